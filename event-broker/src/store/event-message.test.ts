import { create, equals, fromJson } from "@bufbuild/protobuf";
import { TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { type CloudEvent, CloudEventSchema } from "@dispatch/proto";
import { type MsgHdrs, MsgHdrsImpl, headers as natsHeaders } from "@nats-io/nats-core";
import test from "ava";
import { normalizeEvent } from "../events/cloud-event.js";
import { eventFromMessage, eventToMessage, UnreadableEventError } from "./event-message.js";

type EventInit = Parameters<typeof create<typeof CloudEventSchema>>[1];

const event = (init: EventInit = {}): CloudEvent =>
  create(CloudEventSchema, {
    id: "1",
    source: "/orders",
    type: "com.example.created",
    specversion: "1.0",
    ...init,
  });

/** The message as another process reads it: its headers through the NATS wire format. */
function throughTheWire(message: { headers: MsgHdrs; data: Uint8Array }) {
  return {
    headers: MsgHdrsImpl.decode((message.headers as MsgHdrsImpl).encode()),
    data: new Uint8Array(message.data),
  };
}

const roundTrip = (e: CloudEvent): CloudEvent => {
  const message = throughTheWire(eventToMessage(e));
  return eventFromMessage(message.headers, message.data);
};

const everyByte = new Uint8Array(Array.from({ length: 256 }, (_, i) => i));

const roundTrips: [string, CloudEvent][] = [
  ["the required attributes only", event()],
  [
    "every attribute, unicode, %, quotes and spaces",
    event({
      id: 'id with spaces %41 "q"',
      source: "https://example.com/€/😀?a=1&b=%20",
      type: "com.example.größe.v2",
      subject: "  Euro € 😀 100% ",
      datacontenttype: 'text/plain; charset="utf-8"',
      dataschema: "https://example.com/schema%20v1",
      extensions: {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        note: "ä%b\\c",
        empty: "",
      },
      data: { case: "binaryData", value: new TextEncoder().encode("text €") },
    }),
  ],
  ["a time with nanoseconds", event({ time: fromJson(TimestampSchema, "2026-01-02T03:04:05.123456789Z") })],
  ["a time of year 1", event({ time: fromJson(TimestampSchema, "0001-01-01T00:00:00Z") })],
  [
    "binary data, every byte",
    event({ datacontenttype: "application/octet-stream", data: { case: "binaryData", value: everyByte } }),
  ],
  [
    "JSON data (normalized: its bytes)",
    normalizeEvent(event({ data: { case: "jsonData", value: fromJson(ValueSchema, { a: [1, "€"] }) } })),
  ],
];

for (const [name, e] of roundTrips) {
  test(`eventToMessage → eventFromMessage: ${name}`, (t) => {
    const back = roundTrip(e);
    t.true(
      equals(CloudEventSchema, back, e),
      JSON.stringify({ back, e }, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
    );
  });
}

test("eventToMessage: every header a printable-ASCII ce- header, datacontenttype too; the body the data", (t) => {
  const message = eventToMessage(
    event({
      subject: "Euro € 😀",
      datacontenttype: "application/json",
      data: { case: "binaryData", value: new Uint8Array([123, 125]) },
    }),
  );
  const names = [...message.headers.keys()].sort();
  t.deepEqual(names, ["ce-datacontenttype", "ce-id", "ce-source", "ce-specversion", "ce-subject", "ce-type"]);
  for (const name of names) t.regex(message.headers.get(name), /^[\x21-\x7e]+$/, name);
  t.is(message.headers.get("ce-subject"), "Euro%20%E2%82%AC%20%F0%9F%98%80");
  t.deepEqual([...message.data], [123, 125]);
});

test("eventToMessage: an event without specversion is stored as 1.0", (t) => {
  const back = roundTrip(event({ specversion: "" }));
  t.is(back.specversion, "1.0");
});

test("eventFromMessage: empty data is no data", (t) => {
  const message = eventToMessage(event({ data: { case: "binaryData", value: new Uint8Array(0) } }));
  t.is(message.data.length, 0);
  t.is(eventFromMessage(message.headers, message.data).data.case, undefined);
});

test("eventFromMessage: headers that are not ce- headers are ignored", (t) => {
  const { headers, data } = eventToMessage(event());
  headers.set("Nats-Msg-Id", "abc");
  const back = eventFromMessage(headers, data);
  t.true(equals(CloudEventSchema, back, event()));
});

const storedHeaders = (values: Record<string, string>): MsgHdrs => {
  const h = natsHeaders();
  for (const [name, value] of Object.entries(values)) h.set(name, value);
  return h;
};

const required = { "ce-id": "1", "ce-source": "/s", "ce-type": "t", "ce-specversion": "1.0" };

const unreadable: [string, MsgHdrs | undefined, RegExp][] = [
  ["no headers", undefined, /^the message has no headers$/],
  ["no ce- headers", storedHeaders({ "Nats-Msg-Id": "x" }), /^it has no id, source or type$/],
  ["no id", storedHeaders({ "ce-source": "/s", "ce-type": "t" }), /^it has no id, source or type$/],
  ["no source", storedHeaders({ "ce-id": "1", "ce-type": "t" }), /^it has no id, source or type$/],
  ["no type", storedHeaders({ "ce-id": "1", "ce-source": "/s" }), /^it has no id, source or type$/],
  [
    "a bad escape",
    storedHeaders({ ...required, "ce-subject": "a%ZZ" }),
    /^its ce-subject header is not percent-encoded UTF-8$/,
  ],
  ["an overlong form", storedHeaders({ ...required, "ce-myext": "%C0%A0" }), /^its ce-myext header is not/],
  [
    "a time that is not RFC 3339",
    storedHeaders({ ...required, "ce-time": "yesterday" }),
    /^its time "yesterday" is not an RFC 3339 timestamp \(e\.g\. 2026-01-02T03:04:05Z\)$/,
  ],
];

for (const [name, headers, message] of unreadable) {
  test(`eventFromMessage: a message with ${name} is an UnreadableEventError`, (t) => {
    t.throws(() => eventFromMessage(headers, new Uint8Array([1])), {
      instanceOf: UnreadableEventError,
      message,
    });
  });
}
