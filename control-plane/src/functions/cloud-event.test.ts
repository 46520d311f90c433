import { create, fromJson, toJson } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { CloudEventSchema } from "@dispatch/proto";
import test from "ava";
import { Violations } from "../validation/violations.js";
import {
  checkCloudEvent,
  eventRequest,
  InvalidReplyError,
  maxEventHeaderBytes,
  normalizeCloudEvent,
  replyEvent,
} from "./cloud-event.js";

const base = {
  id: "e-1",
  source: "/orders",
  type: "com.example.order.created",
};

function problems(init: Parameters<typeof create<typeof CloudEventSchema>>[1]): string[] {
  const v = new Violations();
  checkCloudEvent(v, "event", create(CloudEventSchema, init));
  return v.list.map((violation) => `${violation.field}: ${violation.message}`);
}

test("binary mode: attributes become percent-encoded ce- headers, datacontenttype the content-type, JSON data the body", (t) => {
  const event = normalizeCloudEvent(
    create(CloudEventSchema, {
      ...base,
      subject: "naïve 100%",
      time: timestampFromDate(new Date("2024-05-01T12:00:00.250Z")),
      dataschema: "https://example.com/order.json",
      extensions: { tenant: "acme corp" },
      data: { case: "jsonData", value: fromJson(ValueSchema, { total: 3 }) },
    }),
  );
  const { headers, body } = eventRequest(event);
  t.deepEqual(headers, {
    "ce-id": "e-1",
    "ce-source": "/orders",
    "ce-type": "com.example.order.created",
    "ce-specversion": "1.0",
    "ce-subject": "na%C3%AFve%20100%25",
    "ce-time": "2024-05-01T12:00:00.250Z",
    "ce-dataschema": "https://example.com/order.json",
    "ce-tenant": "acme%20corp",
    "content-type": "application/json",
  });
  t.deepEqual(JSON.parse(body.toString()), { total: 3 });
});

test("binary data is sent as it is, and no content-type is made up for it", (t) => {
  const bytes = new Uint8Array([0, 1, 2, 255]);
  const { headers, body } = eventRequest(
    normalizeCloudEvent(create(CloudEventSchema, { ...base, data: { case: "binaryData", value: bytes } })),
  );
  t.deepEqual([...body], [...bytes]);
  t.is(headers["content-type"], undefined);
});

test("a reply event is read from ce- headers; JSON data by its content type, other data as bytes", (t) => {
  const reply = replyEvent(
    {
      "ce-specversion": "1.0",
      "ce-id": "r-1",
      "ce-source": "/fn",
      "ce-type": "com.example.replied",
      "ce-time": "2024-05-01T12:00:00Z",
      "ce-note": "caf%C3%A9",
      "content-type": "application/cloudevents-batch+json",
    },
    Buffer.from('{"ok":true}'),
  );
  t.is(reply?.id, "r-1");
  t.is(reply?.extensions.note, "café");
  t.is(reply?.time?.seconds, 1714564800n);
  t.deepEqual(reply?.data.case === "jsonData" ? toJson(ValueSchema, reply.data.value) : undefined, {
    ok: true,
  });
  const text = replyEvent(
    {
      "ce-specversion": "1.0",
      "ce-id": "r-2",
      "ce-source": "/fn",
      "ce-type": "t",
      "content-type": "text/plain",
    },
    Buffer.from("hello"),
  );
  t.is(text?.data.case, "binaryData");
  t.is(Buffer.from(text?.data.value as Uint8Array).toString(), "hello");
});

test("an answer without ce-specversion is not an event", (t) => {
  t.is(replyEvent({ "content-type": "application/json", "ce-id": "x" }, Buffer.from("{}")), undefined);
});

test("a reply event that cannot be recorded says why", (t) => {
  const headers = { "ce-specversion": "1.0", "ce-id": "r", "ce-source": "/fn", "ce-type": "t" };
  t.throws(() => replyEvent({ ...headers, "ce-time": "yesterday" }, Buffer.alloc(0)), {
    instanceOf: InvalidReplyError,
    message: 'its time "yesterday" is not an RFC 3339 time',
  });
  t.throws(() => replyEvent({ ...headers, "ce-source": undefined }, Buffer.alloc(0)), {
    instanceOf: InvalidReplyError,
    message: "it has no source",
  });
  t.throws(() => replyEvent({ ...headers, "content-type": "application/json" }, Buffer.from("{nope")), {
    instanceOf: InvalidReplyError,
    message: "its data is declared application/json but is not JSON",
  });
  t.throws(() => replyEvent({ ...headers, "ce-subject": "%C3%28" }, Buffer.alloc(0)), {
    instanceOf: InvalidReplyError,
    message: "its subject is not valid percent-encoded UTF-8",
  });
});

test("a complete event has no problems; JSON data gets application/json", (t) => {
  t.deepEqual(problems({ ...base, data: { case: "jsonData", value: fromJson(ValueSchema, 1) } }), []);
  const event = normalizeCloudEvent(
    create(CloudEventSchema, { ...base, data: { case: "jsonData", value: fromJson(ValueSchema, 1) } }),
  );
  t.is(event.specversion, "1.0");
  t.is(event.datacontenttype, "application/json");
});

test("a media type HTTP cannot carry, and attributes too large for a request head, are refused", (t) => {
  t.deepEqual(problems({ ...base, datacontenttype: "text/plain\r\nx-injected: 1" }), [
    'event.datacontenttype: "text/plain\\r\\nx-injected: 1" is not a media type (e.g. application/json)',
  ]);
  const found = problems({ ...base, extensions: { big: "x".repeat(maxEventHeaderBytes) } });
  t.is(found.length, 1);
  t.regex(found[0] ?? "", /^event: its attributes take \d+ bytes as ce- headers; the limit is 16384/);
});
