import { create, fromJson } from "@bufbuild/protobuf";
import { TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { type CloudEvent, CloudEventSchema } from "@dispatch/proto";
import test from "ava";
import { maxTypeLength } from "../store/layout.js";
import { attributesOf, dataBytes, eventProblems, maxAttributeBytes, normalizeEvent } from "./cloud-event.js";

type EventInit = Parameters<typeof create<typeof CloudEventSchema>>[1];

const event = (init: EventInit = {}): CloudEvent =>
  create(CloudEventSchema, {
    id: "1",
    source: "/orders",
    type: "com.example.created",
    specversion: "1.0",
    ...init,
  });

test("eventProblems: a valid event has none", (t) => {
  t.deepEqual(eventProblems(event()), []);
  t.deepEqual(
    eventProblems(
      event({
        subject: "order 1 € 😀",
        time: fromJson(TimestampSchema, "2026-01-02T03:04:05.123456789Z"),
        datacontenttype: "application/json; charset=utf-8",
        dataschema: "https://example.com/order.json",
        extensions: { traceparent: "00-abc", a1: "", x2345678901234567890: "twenty" },
        data: { case: "binaryData", value: new Uint8Array([1, 2]) },
      }),
    ),
    [],
  );
});

const problems: [string, EventInit, string[]][] = [
  [
    "id, source and type are required",
    { id: "", source: "", type: "" },
    [
      "id is required (CloudEvents 1.0: id, source, type and specversion)",
      "source is required (CloudEvents 1.0: id, source, type and specversion)",
      "type is required (CloudEvents 1.0: id, source, type and specversion)",
    ],
  ],
  ["specversion is required", { specversion: "" }, ['specversion is required: set it to "1.0"']],
  [
    "specversion must be 1.0",
    { specversion: "0.3" },
    ['specversion "0.3" is not supported: Dispatch takes CloudEvents 1.0 (specversion "1.0")'],
  ],
  [
    "type is at most 512 characters",
    { type: "t".repeat(maxTypeLength + 1) },
    [`type is ${maxTypeLength + 1} characters long; the limit is ${maxTypeLength}`],
  ],
  [
    "a control character (U+0000)",
    { id: "a\u0000" },
    ["id holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "a control character (U+001F)",
    { source: "\u001f" },
    ["source holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "a control character (U+007F)",
    { subject: "\u007f" },
    ["subject holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "a control character (U+009F)",
    { type: "a\u009fb" },
    ["type holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "a newline in an extension",
    { extensions: { myext: "a\nb" } },
    ["myext holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "a lone high surrogate",
    { subject: "a\ud83d" },
    ["subject holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "a lone low surrogate",
    { subject: "\ude00b" },
    ["subject holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "surrogates in the wrong order",
    { subject: "\ude00\ud83d" },
    ["subject holds a control character or a lone surrogate, which a CloudEvents String may not"],
  ],
  [
    "a noncharacter (U+FDD0)",
    { subject: "\ufdd0" },
    [
      "subject holds a noncharacter (U+FDD0–U+FDEF, or U+FFFE/U+FFFF of any plane), which a CloudEvents String may not",
    ],
  ],
  [
    "a noncharacter (U+FDEF)",
    { id: "\ufdef" },
    [
      "id holds a noncharacter (U+FDD0–U+FDEF, or U+FFFE/U+FFFF of any plane), which a CloudEvents String may not",
    ],
  ],
  [
    "a noncharacter (U+FFFE)",
    { extensions: { myext: "\ufffe" } },
    [
      "myext holds a noncharacter (U+FDD0–U+FDEF, or U+FFFE/U+FFFF of any plane), which a CloudEvents String may not",
    ],
  ],
  [
    "a noncharacter (U+FFFF)",
    { type: "a\uffff" },
    [
      "type holds a noncharacter (U+FDD0–U+FDEF, or U+FFFE/U+FFFF of any plane), which a CloudEvents String may not",
    ],
  ],
  [
    "a noncharacter of another plane (U+1FFFE)",
    { subject: "\ud83f\udffe" },
    [
      "subject holds a noncharacter (U+FDD0–U+FDEF, or U+FFFE/U+FFFF of any plane), which a CloudEvents String may not",
    ],
  ],
  [
    "a noncharacter of the last plane (U+10FFFF)",
    { subject: "\udbff\udfff" },
    [
      "subject holds a noncharacter (U+FDD0–U+FDEF, or U+FFFE/U+FFFF of any plane), which a CloudEvents String may not",
    ],
  ],
  [
    "a relative dataschema",
    { dataschema: "/schemas/order" },
    ['dataschema "/schemas/order" is not an absolute URI'],
  ],
  [
    "an extension name with an upper-case letter",
    { extensions: { myExt: "x" } },
    ['extension "myExt" is not a valid attribute name: use 1 to 20 lowercase letters and digits'],
  ],
  [
    "an extension name with '_'",
    { extensions: { my_ext: "x" } },
    ['extension "my_ext" is not a valid attribute name: use 1 to 20 lowercase letters and digits'],
  ],
  [
    "an extension name of 21 characters",
    { extensions: { x23456789012345678901: "x" } },
    [
      'extension "x23456789012345678901" is not a valid attribute name: use 1 to 20 lowercase letters and digits',
    ],
  ],
  [
    "an empty extension name",
    { extensions: { "": "x" } },
    ['extension "" is not a valid attribute name: use 1 to 20 lowercase letters and digits'],
  ],
  [
    "an extension named as an attribute",
    { extensions: { subject: "x", data: "y" } },
    [
      'extension "subject" takes the name of an attribute of the event',
      'extension "data" takes the name of an attribute of the event',
    ],
  ],
  [
    "a datacontenttype that is not a media type",
    { datacontenttype: "json" },
    ['datacontenttype "json" is not a media type (e.g. application/json)'],
  ],
  [
    "a datacontenttype with a newline",
    { datacontenttype: "text/plain;\n x" },
    ['datacontenttype "text/plain;\\n x" is not a media type (e.g. application/json)'],
  ],
  [
    "a time after year 9999",
    { time: { seconds: 253402300800n, nanos: 0 } },
    ["time is not a time an RFC 3339 timestamp can show (years 1 to 9999)"],
  ],
  [
    "a time with nanos out of range",
    { time: { seconds: 0n, nanos: 1_000_000_000 } },
    ["time is not a time an RFC 3339 timestamp can show (years 1 to 9999)"],
  ],
];

for (const [name, init, expected] of problems) {
  test(`eventProblems: ${name}`, (t) => {
    t.deepEqual(eventProblems(event(init)), expected);
  });
}

test("eventProblems: a type of exactly 512 characters, surrogate pairs and U+FDCF/U+FDF0/U+FFFD are fine", (t) => {
  t.deepEqual(eventProblems(event({ type: "t".repeat(maxTypeLength) })), []);
  t.deepEqual(eventProblems(event({ subject: "😀\ufdcf\ufdf0\ufffd\u00a0" })), []);
  t.deepEqual(eventProblems(event({ dataschema: "urn:example:order" })), []);
});

test("eventProblems: the attributes must fit in ce- headers as a worker reads them", (t) => {
  t.deepEqual(eventProblems(event({ subject: "s".repeat(maxAttributeBytes - 200) })), []);
  const [tooLong] = eventProblems(event({ subject: "s".repeat(maxAttributeBytes) }));
  t.regex(
    tooLong ?? "",
    /^its attributes take \d+ bytes; the limit is 16384 \(put large values in the data\)$/,
  );
  const manyExtensions = Object.fromEntries(
    Array.from({ length: 20 }, (_, i) => [`ext${i}`, "v".repeat(maxAttributeBytes / 20)]),
  );
  t.is(eventProblems(event({ extensions: manyExtensions })).length, 1);
});

test("eventProblems: attribute bytes count the percent-encoded values the ce- headers carry", (t) => {
  // 3000 "€" are 3000 UTF-16 units but 27000 bytes as %E2%82%AC escapes in a ce- header.
  const [problem] = eventProblems(event({ subject: "€".repeat(3000) }));
  t.regex(problem ?? "", /^its attributes take \d+ bytes; the limit is 16384/);
  t.true(Number(/take (\d+) bytes/.exec(problem ?? "")?.[1]) > 27_000);
  t.is(eventProblems(event({ subject: " ".repeat(6000) })).length, 1);
  t.deepEqual(eventProblems(event({ subject: "€".repeat(1000) })), []);
});

test("normalizeEvent: JSON data becomes its bytes, with application/json when no content type is named", (t) => {
  const json = event({
    data: { case: "jsonData", value: fromJson(ValueSchema, { order: 1, note: "€" }) },
  });
  const normalized = normalizeEvent(json);
  t.is(normalized.datacontenttype, "application/json");
  t.is(normalized.data.case, "binaryData");
  t.deepEqual(JSON.parse(Buffer.from(dataBytes(normalized)).toString("utf8")), { order: 1, note: "€" });
  t.is(normalized.id, "1");
  t.is(json.data.case, "jsonData", "the event given is not changed");
});

test("normalizeEvent: a JSON content type named is kept", (t) => {
  const normalized = normalizeEvent(
    event({
      datacontenttype: "application/vnd.order+json",
      data: { case: "jsonData", value: fromJson(ValueSchema, [1, 2]) },
    }),
  );
  t.is(normalized.datacontenttype, "application/vnd.order+json");
  t.is(Buffer.from(dataBytes(normalized)).toString("utf8"), "[1,2]");
});

test("normalizeEvent: bytes and no data stay as they are", (t) => {
  const bytes = event({ data: { case: "binaryData", value: new Uint8Array([0, 255]) } });
  t.is(normalizeEvent(bytes), bytes);
  t.is(bytes.datacontenttype, "");
  const none = event();
  t.is(normalizeEvent(none), none);
  t.is(dataBytes(none).length, 0);
});

test("attributesOf: every attribute and extension as strings; unset ones absent", (t) => {
  const attributes = attributesOf(
    event({
      specversion: "",
      subject: "s",
      time: fromJson(TimestampSchema, "2026-01-02T03:04:05.000000001Z"),
      extensions: { myext: "v", n: "42" },
    }),
  );
  t.deepEqual(
    { ...attributes },
    {
      myext: "v",
      n: "42",
      id: "1",
      source: "/orders",
      type: "com.example.created",
      specversion: "1.0",
      subject: "s",
      time: "2026-01-02T03:04:05.000000001Z",
    },
  );
  t.false("datacontenttype" in attributes);
  t.false("dataschema" in attributes);
});

test("attributesOf: a map without a prototype (constructor, toString are not attributes)", (t) => {
  const attributes = attributesOf(event());
  t.is(Object.getPrototypeOf(attributes), null);
  t.false("constructor" in attributes);
  t.false("toString" in attributes);
});

test("attributesOf: a time no RFC 3339 text can show is left out", (t) => {
  t.false("time" in attributesOf(event({ time: { seconds: 253402300800n, nanos: 0 } })));
});
