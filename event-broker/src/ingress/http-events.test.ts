import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { CloudEvent } from "@dispatch/proto";
import test, { type ExecutionContext } from "ava";
import { eventsFromHttp, IngressError } from "./http-events.js";

type Headers = Record<string, string | string[] | undefined>;

const binary: Headers = {
  "ce-id": "1",
  "ce-source": "/orders",
  "ce-type": "com.example.created",
  "ce-specversion": "1.0",
};

const required = { id: "1", source: "/orders", type: "com.example.created", specversion: "1.0" };

const structured = (event: unknown, contentType = "application/cloudevents+json"): [Headers, Buffer] => [
  { "content-type": contentType },
  Buffer.from(JSON.stringify(event)),
];

const batch = (events: unknown, contentType = "application/cloudevents-batch+json"): [Headers, Buffer] => [
  { "content-type": contentType },
  Buffer.from(typeof events === "string" ? events : JSON.stringify(events)),
];

function one(headers: Headers, body: Buffer = Buffer.alloc(0)): CloudEvent {
  const events = eventsFromHttp(headers, body);
  if (events.length !== 1) throw new Error(`${events.length} events`);
  return events[0] as CloudEvent;
}

const text = (event: CloudEvent): string | undefined =>
  event.data.case === "binaryData" ? Buffer.from(event.data.value).toString("utf8") : undefined;

function refused(
  t: ExecutionContext,
  headers: Headers,
  body: Buffer,
  status: number,
  message: string | RegExp,
): void {
  const error = t.throws(() => eventsFromHttp(headers, body), { instanceOf: IngressError });
  t.is(error?.status, status);
  if (typeof message === "string") t.is(error?.message, message);
  else t.regex(error?.message ?? "", message);
}

// Binary mode (HTTP binding §3.1)

test("binary: ce- headers are the attributes and extensions, Content-Type the datacontenttype, the body the data", (t) => {
  const event = one(
    {
      ...binary,
      "ce-subject": "order-1",
      "ce-traceparent": "00-abc",
      "content-type": "text/plain; charset=utf-8",
    },
    Buffer.from("hello"),
  );
  t.is(event.id, "1");
  t.is(event.source, "/orders");
  t.is(event.type, "com.example.created");
  t.is(event.specversion, "1.0");
  t.is(event.subject, "order-1");
  t.deepEqual(event.extensions, { traceparent: "00-abc" });
  t.is(event.datacontenttype, "text/plain; charset=utf-8");
  t.is(text(event), "hello");
});

test("binary: the body is the data byte for byte", (t) => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const event = one({ ...binary, "content-type": "application/octet-stream" }, bytes);
  t.deepEqual(event.data.case === "binaryData" ? Buffer.from(event.data.value) : undefined, bytes);
});

test("binary: no body and no Content-Type is no data and no datacontenttype", (t) => {
  const event = one(binary);
  t.is(event.data.case, undefined);
  t.is(event.datacontenttype, "");
});

test("binary: header names are case-insensitive; repeated values are joined", (t) => {
  const event = one({
    "CE-ID": "1",
    "Ce-Source": "/orders",
    "ce-TYPE": "t",
    "ce-specversion": "1.0",
    "ce-list": ["a", "b"],
  });
  t.is(event.id, "1");
  t.is(event.source, "/orders");
  t.is(event.type, "t");
  t.deepEqual(event.extensions, { list: "a, b" });
});

test("binary: a time header is parsed as RFC 3339", (t) => {
  const event = one({ ...binary, "ce-time": "2026-01-02T03:04:05.123456789Z" });
  if (!event.time) return t.fail("no time");
  t.is(event.time.nanos, 123_456_789);
  t.is(timestampDate(event.time).toISOString(), "2026-01-02T03:04:05.123Z");
});

const decoded: [string, string, string][] = [
  ["the spec's example (§3.1.3.2)", "Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"],
  ["lower-case hex", "Euro%20%e2%82%ac%20%f0%9f%98%80", "Euro € 😀"],
  ["a quoted-string, unquoted before decoding", '"Euro%20%E2%82%AC%20%F0%9F%98%80"', "Euro € 😀"],
  ["%25", "100%25", "100%"],
];

for (const [name, raw, value] of decoded) {
  test(`binary: header values are percent-decoded: ${name}`, (t) => {
    const event = one({ ...binary, "ce-subject": raw, "ce-myext": raw });
    t.is(event.subject, value);
    t.is(event.extensions.myext, value);
  });
}

const badEncoding = (header: string) =>
  `the header ${header} is not valid percent-encoding (CloudEvents HTTP binding §3.1.3.2): write "%" as %25 and non-ASCII characters as %XX escapes of their UTF-8 bytes`;

for (const [name, raw] of [
  ["an overlong form (%C0%A0)", "%C0%A0"],
  ["a lone %", "%"],
  ["a % without hex digits", "100%"],
  ["raw UTF-8 (read as Latin-1)", Buffer.from("é", "utf8").toString("latin1")],
] as const) {
  test(`binary: ${name} in a header is refused`, (t) => {
    refused(t, { ...binary, "ce-subject": raw }, Buffer.alloc(0), 400, badEncoding("ce-subject"));
  });
}

test("binary: ce-datacontenttype is refused (Content-Type carries it)", (t) => {
  refused(
    t,
    { ...binary, "ce-datacontenttype": "application/json", "content-type": "application/json" },
    Buffer.from("{}"),
    400,
    "binary mode carries datacontenttype in Content-Type: send no ce-datacontenttype header",
  );
});

test("binary: a request without ce- headers holds no event", (t) => {
  refused(
    t,
    { "content-type": "application/json" },
    Buffer.from("{}"),
    400,
    "the request holds no CloudEvent: send binary mode (ce-id, ce-source, ce-type and ce-specversion headers, the data as the body) or structured mode (Content-Type: application/cloudevents+json)",
  );
});

test("binary: an event with problems is refused with all of them", (t) => {
  refused(
    t,
    { "ce-id": "1", "ce-type": "t", "ce-specversion": "0.3" },
    Buffer.alloc(0),
    400,
    'the event is not valid: source is required (CloudEvents 1.0: id, source, type and specversion); specversion "0.3" is not supported: Dispatch takes CloudEvents 1.0 (specversion "1.0")',
  );
});

test("binary: a Content-Type that is not a media type is refused", (t) => {
  refused(
    t,
    { ...binary, "content-type": "json" },
    Buffer.from("{}"),
    400,
    'the event is not valid: datacontenttype "json" is not a media type (e.g. application/json)',
  );
});

test("binary: a time that is not RFC 3339 is refused", (t) => {
  refused(
    t,
    { ...binary, "ce-time": "yesterday" },
    Buffer.alloc(0),
    400,
    'the header ce-time: time "yesterday" is not an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05Z)',
  );
});

// Structured mode (HTTP binding §3.2, JSON format)

test("structured: members are attributes and extensions; JSON data is stored as its JSON text", (t) => {
  const event = one(
    ...structured({
      ...required,
      subject: "Euro € 😀",
      time: "2026-01-02T03:04:05Z",
      dataschema: "https://example.com/order.json",
      traceparent: "00-abc",
      data: { order: 1, items: ["a"] },
    }),
  );
  t.is(event.subject, "Euro € 😀");
  t.is(event.time?.seconds, 1767323045n);
  t.is(event.dataschema, "https://example.com/order.json");
  t.deepEqual(event.extensions, { traceparent: "00-abc" });
  t.is(
    event.datacontenttype,
    "application/json",
    "no datacontenttype means application/json (JSON format §3.1)",
  );
  t.deepEqual(JSON.parse(text(event) ?? ""), { order: 1, items: ["a"] });
});

test("structured: a time with an offset is the same instant", (t) => {
  const event = one(...structured({ ...required, time: "2026-01-02T04:04:05.5+01:00" }));
  if (!event.time) return t.fail("no time");
  t.is(timestampDate(event.time).toISOString(), "2026-01-02T03:04:05.500Z");
});

test("structured: JSON data with a JSON content type is its JSON text (a string stays a JSON string)", (t) => {
  const event = one(...structured({ ...required, datacontenttype: "application/vnd.x+json", data: "hi" }));
  t.is(event.datacontenttype, "application/vnd.x+json");
  t.is(text(event), '"hi"');
});

test("structured: string data with a text content type is the text itself", (t) => {
  const event = one(...structured({ ...required, datacontenttype: "text/plain", data: "Euro € 😀" }));
  t.is(event.datacontenttype, "text/plain");
  t.is(text(event), "Euro € 😀");
});

test("structured: other data with a text content type is its JSON text", (t) => {
  const event = one(...structured({ ...required, datacontenttype: "text/csv", data: [1, 2] }));
  t.is(text(event), "[1,2]");
});

test("structured: data_base64 is the bytes it encodes; datacontenttype stays as sent", (t) => {
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
  const event = one(...structured({ ...required, data_base64: bytes.toString("base64") }));
  t.deepEqual(event.data.case === "binaryData" ? Buffer.from(event.data.value) : undefined, bytes);
  t.is(event.datacontenttype, "");
  const typed = one(...structured({ ...required, datacontenttype: "image/png", data_base64: "AAE=" }));
  t.is(typed.datacontenttype, "image/png");
  t.deepEqual(typed.data.case === "binaryData" ? [...typed.data.value] : undefined, [0, 1]);
});

test("structured: null members are unset (JSON format §2.4)", (t) => {
  const event = one(...structured({ ...required, subject: null, myext: null, time: null, data: null }));
  t.is(event.subject, "");
  t.deepEqual(event.extensions, {});
  t.is(event.time, undefined);
  t.is(event.data.case, undefined);
  t.is(event.datacontenttype, "");
  const base64 = one(...structured({ ...required, data: null, data_base64: "AAE=" }));
  t.deepEqual(base64.data.case === "binaryData" ? [...base64.data.value] : undefined, [0, 1]);
  const json = one(...structured({ ...required, data: { a: 1 }, data_base64: null }));
  t.is(text(json), '{"a":1}');
});

test("structured: extension values may be 32-bit integers and booleans, kept as their strings", (t) => {
  const event = one(
    ...structured({ ...required, n: 42, neg: -7, max: 2147483647, min: -2147483648, yes: true, no: false }),
  );
  t.deepEqual(event.extensions, {
    n: "42",
    neg: "-7",
    max: "2147483647",
    min: "-2147483648",
    yes: "true",
    no: "false",
  });
});

/** Each extension value as JSON text, so that numbers a JS number cannot hold reach the parser as sent. */
for (const [name, json] of [
  ["a fraction", "1.5"],
  ["an integer beyond 32 bits", "2147483648"],
  ["an integer below 32 bits", "-2147483649"],
  ["an integer JSON.parse cannot hold exactly", "9007199254740993"],
  ["an integer String() writes with an exponent", "1e21"],
  ["an object", '{"a": 1}'],
  ["an array", '["a"]'],
]) {
  test(`structured: an extension value that is ${name} is refused`, (t) => {
    const body = `${JSON.stringify(required).slice(0, -1)}, "myext": ${json}}`;
    refused(
      t,
      { "content-type": "application/cloudevents+json" },
      Buffer.from(body),
      400,
      "the event: myext must be a string, a boolean or an integer from -2147483648 to 2147483647 (CloudEvents Integer; send other numbers as strings)",
    );
  });
}

test("structured: the attributes of their own must be strings", (t) => {
  for (const [name, value] of [
    ["id", 1],
    ["specversion", 1.0],
    ["subject", true],
    ["time", 0],
    ["datacontenttype", {}],
  ] as const) {
    refused(t, ...structured({ ...required, [name]: value }), 400, `the event: ${name} must be a string`);
  }
});

test("structured: both data and data_base64 are refused", (t) => {
  refused(
    t,
    ...structured({ ...required, data: "x", data_base64: "AAE=" }),
    400,
    "the event has both data and data_base64; send one",
  );
});

for (const [name, value] of [
  ["a length that is not a multiple of 4", "AAE"],
  ["a character base64 does not have", "AA-="],
  ["padding in the middle", "A=AA"],
  ["too much padding", "A==="],
  ["whitespace", "AA E="],
  ["a number", 12],
] as const) {
  test(`structured: data_base64 with ${name} is refused`, (t) => {
    refused(
      t,
      ...structured({ ...required, data_base64: value }),
      400,
      "the event: data_base64 is not base64",
    );
  });
}

test("structured: a time that is not RFC 3339 is refused", (t) => {
  refused(
    t,
    ...structured({ ...required, time: "2026-01-02 03:04:05" }),
    400,
    'the event: time: time "2026-01-02 03:04:05" is not an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05Z)',
  );
});

test("structured: a body that is not JSON, or not an object, is refused", (t) => {
  refused(
    t,
    { "content-type": "application/cloudevents+json" },
    Buffer.from("{"),
    400,
    /^the event is not valid JSON: /,
  );
  for (const body of ["[]", "null", '"event"', "1"]) {
    refused(
      t,
      { "content-type": "application/cloudevents+json" },
      Buffer.from(body),
      400,
      "the event is not a JSON object",
    );
  }
});

test("structured: an event with problems is refused with them", (t) => {
  refused(
    t,
    ...structured({ id: "1", source: "/s", type: "t" }),
    400,
    'the event is not valid: specversion is required: set it to "1.0"',
  );
  refused(
    t,
    ...structured({ ...required, MyExt: "x" }),
    400,
    'the event is not valid: extension "MyExt" is not a valid attribute name: use 1 to 20 lowercase letters and digits',
  );
});

test("structured: ce- headers beside it are ignored (the body is authoritative)", (t) => {
  const [headers, body] = structured({ ...required, subject: "from the body" });
  const event = one({ ...headers, "ce-subject": "from a header", "ce-id": "2" }, body);
  t.is(event.subject, "from the body");
  t.is(event.id, "1");
});

// Batched mode (HTTP binding §3.3)

test("batch: every event of the array, in order", (t) => {
  const events = eventsFromHttp(
    ...batch([
      { ...required, id: "a", data: { n: 1 } },
      { ...required, id: "b", datacontenttype: "text/plain", data: "two" },
    ]),
  );
  t.deepEqual(
    events.map((e) => [e.id, text(e)]),
    [
      ["a", '{"n":1}'],
      ["b", "two"],
    ],
  );
  t.deepEqual(eventsFromHttp(...batch([])), []);
});

test("batch: a body that is not an array is refused", (t) => {
  refused(
    t,
    ...batch(required),
    400,
    "the batch is not a JSON array of events (application/cloudevents-batch+json)",
  );
});

test("batch: a body that is not JSON is refused", (t) => {
  refused(t, ...batch("[{"), 400, /^the batch is not valid JSON: /);
});

test("batch: a bad event is named by its index", (t) => {
  refused(
    t,
    ...batch([required, { ...required, id: "" }]),
    400,
    "event [1] of the batch is not valid: id is required (CloudEvents 1.0: id, source, type and specversion)",
  );
  refused(t, ...batch([required, required, 3]), 400, "event [2] of the batch is not a JSON object");
  refused(
    t,
    ...batch([{ ...required, data_base64: "!" }]),
    400,
    "event [0] of the batch: data_base64 is not base64",
  );
  refused(
    t,
    ...batch([required, { ...required, id: 7 }]),
    400,
    "event [1] of the batch: id must be a string",
  );
});

// Content-Type decides the mode (HTTP binding §3)

test("the mode is found from Content-Type, case-insensitive and with parameters", (t) => {
  t.is(one(...structured(required, "Application/CloudEvents+JSON; charset=UTF-8")).id, "1");
  t.is(
    eventsFromHttp(...batch([required, required], "APPLICATION/CLOUDEVENTS-BATCH+JSON ; charset=utf-8"))
      .length,
    2,
  );
  t.is(
    one({ ...binary, "content-type": "Application/JSON" }, Buffer.from("{}")).datacontenttype,
    "Application/JSON",
  );
});

for (const [contentType, message] of [
  [
    "application/cloudevents+xml",
    "application/cloudevents+xml is not supported: send structured events as application/cloudevents+json, or use binary mode",
  ],
  [
    "application/cloudevents",
    "application/cloudevents is not supported: send structured events as application/cloudevents+json, or use binary mode",
  ],
  [
    "Application/CloudEvents-Batch+XML",
    "application/cloudevents-batch+xml is not supported: send batches as application/cloudevents-batch+json",
  ],
  [
    "application/cloudevents-batch",
    "application/cloudevents-batch is not supported: send batches as application/cloudevents-batch+json",
  ],
] as const) {
  test(`${contentType} is an unsupported format (415)`, (t) => {
    refused(t, { ...binary, "content-type": contentType }, Buffer.from("{}"), 415, message);
  });
}
