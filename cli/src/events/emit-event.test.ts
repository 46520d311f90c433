import { timestampDate } from "@bufbuild/protobuf/wkt";
import test from "ava";
import { InvalidArgumentError } from "commander";
import { UsageError } from "../errors.js";
import {
  contentTypeOf,
  type EmitEventFlags,
  emitEvent,
  parseExtensionFlag,
  parseTimeFlag,
} from "./emit-event.js";

const now = new Date("2025-06-01T12:00:00.250Z");
const inputs = (file?: Uint8Array) => ({ ...(file ? { file } : {}), now, newId: () => "generated-id" });
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

test("without flags: a random id, source dispatch-cli, the time now, and no data", (t) => {
  const event = emitEvent("com.example.ping", {}, inputs());
  t.is(event.id, "generated-id");
  t.is(event.source, "dispatch-cli");
  t.is(event.type, "com.example.ping");
  t.is(event.specversion, "1.0");
  t.is(event.subject, "");
  t.is(event.time && timestampDate(event.time).toISOString(), now.toISOString());
  t.is(event.datacontenttype, "");
  t.is(event.data.case, undefined);
  t.deepEqual(event.extensions, {});
});

test("--data is JSON text sent as bytes, application/json unless --content-type says otherwise", (t) => {
  const json = emitEvent("t", { data: '{"order": 1234}' }, inputs());
  t.is(json.datacontenttype, "application/json");
  t.is(json.data.case, "binaryData");
  t.is(json.data.case === "binaryData" ? text(json.data.value) : "", '{"order": 1234}');

  const plain = emitEvent("t", { data: "hello, not JSON", contentType: "text/plain" }, inputs());
  t.is(plain.datacontenttype, "text/plain");
  t.is(plain.data.case === "binaryData" ? text(plain.data.value) : "", "hello, not JSON");
});

test("--data that is not JSON while the content type says JSON is a usage error that says what to do", (t) => {
  for (const contentType of [undefined, "application/json", "application/cloudevents+json; charset=utf-8"]) {
    const flags: EmitEventFlags = { data: "{order: 1}", ...(contentType ? { contentType } : {}) };
    t.throws(() => emitEvent("t", flags, inputs()), {
      instanceOf: UsageError,
      message: /^--data is not valid JSON \(.*\); for other text give --content-type, e\.g\. text\/plain$/,
    });
  }
});

test("--data-file: the bytes as they are, the type from --content-type or the file's extension", (t) => {
  const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);
  const png = emitEvent("t", { dataFile: "/tmp/cat.PNG" }, inputs(bytes));
  t.is(png.datacontenttype, "image/png");
  t.deepEqual(png.data.case === "binaryData" ? [...png.data.value] : [], [...bytes]);

  t.is(emitEvent("t", { dataFile: "order.json" }, inputs(bytes)).datacontenttype, "application/json");
  t.is(emitEvent("t", { dataFile: "note.txt" }, inputs(bytes)).datacontenttype, "text/plain");
  t.is(emitEvent("t", { dataFile: "blob.bin" }, inputs(bytes)).datacontenttype, "application/octet-stream");
  t.is(emitEvent("t", { dataFile: "README" }, inputs(bytes)).datacontenttype, "application/octet-stream");
  t.is(
    emitEvent("t", { dataFile: "blob.bin", contentType: "application/x-protobuf" }, inputs(bytes))
      .datacontenttype,
    "application/x-protobuf",
  );
  t.is(contentTypeOf("a/b/c.yml"), "application/yaml");
});

test("--source, --subject, --id, --time and --extension set their attributes", (t) => {
  const event = emitEvent(
    "com.example.order.created",
    {
      source: "/shop",
      subject: "orders/1234",
      id: "order-1234",
      time: parseTimeFlag("2024-12-24T18:00:00+01:00"),
      extension: parseExtensionFlag("tenant=acme", parseExtensionFlag("traceparent=00-abc=def")),
    },
    inputs(),
  );
  t.is(event.source, "/shop");
  t.is(event.subject, "orders/1234");
  t.is(event.id, "order-1234");
  t.is(event.time && timestampDate(event.time).toISOString(), "2024-12-24T17:00:00.000Z");
  t.deepEqual(event.extensions, { traceparent: "00-abc=def", tenant: "acme" });
});

test("--extension: names of 1 to 20 lowercase letters and digits that are no attribute of every event", (t) => {
  for (const bad of ["Tenant=acme", "=acme", "tenant", "a-b=1", "averyveryverylongname1=x"]) {
    t.throws(() => parseExtensionFlag(bad), { instanceOf: InvalidArgumentError, message: /NAME=VALUE/ }, bad);
  }
  t.throws(() => parseExtensionFlag("subject=x"), {
    instanceOf: InvalidArgumentError,
    message: /use --subject/,
  });
  t.throws(() => parseExtensionFlag("datacontenttype=x"), { message: /use --content-type/ });
  t.deepEqual(parseExtensionFlag("empty="), [["empty", ""]]);
});

test("--time must be RFC 3339 with an offset", (t) => {
  for (const bad of ["now", "2025-06-01", "2025-06-01 12:00:00"]) {
    t.throws(() => parseTimeFlag(bad), { instanceOf: InvalidArgumentError, message: /RFC 3339/ }, bad);
  }
});

test("flags that do not go together are usage errors", (t) => {
  const cases: [string, EmitEventFlags, RegExp][] = [
    ["t", { data: "{}", dataFile: "a.json" }, /give --data or --data-file, not both/],
    ["t", { contentType: "text/plain" }, /--content-type says what the data is: give --data or --data-file/],
    ["", {}, /give the event's TYPE/],
    ["t", { id: "" }, /--id must not be empty/],
    ["t", { source: "" }, /--source must not be empty/],
  ];
  for (const [type, flags, message] of cases) {
    t.throws(() => emitEvent(type, flags, inputs(new Uint8Array())), { instanceOf: UsageError, message });
  }
});
