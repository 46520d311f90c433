import { clone, create, equals } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  FunctionSchema,
  FunctionSpecSchema,
  LogLineSchema,
  LogStream,
  Phase,
  SecretSchema,
  type SecretSpec,
  SubscriptionSchema,
} from "@dispatch/proto";
import test from "ava";
import { parse } from "yaml";
import { kindByWord } from "../kinds/index.js";
import { parseManifest } from "../manifest.js";
import { renderObjects, renderRecord } from "./format.js";
import { formatLogLine } from "./log-line.js";
import { formatRow, formatTable } from "./table.js";

const now = new Date("2026-01-02T03:04:05Z");
const minutesAgo = (m: number) => timestampFromDate(new Date(now.getTime() - m * 60_000));

const hello = create(FunctionSchema, {
  meta: { name: "hello", org: "default", uid: "u1", revision: 3n, generation: 2n, created: minutesAgo(5) },
  spec: {
    runtime: "nodejs",
    handler: "hello.js",
    env: { GREETING: "hi" },
    timeout: { seconds: 5n },
    scale: { min: 1, max: 3 },
  },
  status: { phase: Phase.READY, observedGeneration: 2n, readyInstances: 1 },
});

const db = create(SecretSchema, {
  meta: { name: "db", org: "default", created: minutesAgo(90) },
  spec: { data: { password: "s3cret", user: "app" } },
  status: { phase: Phase.READY },
  keys: ["password", "user"],
});

test("table: columns are aligned and the last one is not padded", (t) => {
  t.is(
    formatTable(
      ["NAME", "STATUS"],
      [
        ["hello-world", "READY"],
        ["a", "ERROR"],
      ],
    ),
    "NAME          STATUS\nhello-world   READY\na             ERROR\n",
  );
});

test("table: functions show runtime, phase without its prefix, ready instances, age and reason", (t) => {
  const out = renderObjects("table", kindByWord("fn"), [hello], { single: false, now });
  t.is(out, "NAME    RUNTIME   STATUS   READY   AGE   REASON\nhello   nodejs    READY    1       5m    -\n");
});

test("table: a function's first reason line shows, cut to fit", (t) => {
  const crashed = clone(FunctionSchema, hello);
  if (crashed.status)
    crashed.status.reason = [`instance hello-1 crashed (exit code 1); ${"x".repeat(80)}`, "more"];
  const out = renderObjects("table", kindByWord("fn"), [crashed], { single: false, now });
  const reason =
    out
      .split("\n")[1]
      ?.split(/\s{2,}/)
      .at(-1) ?? "";
  t.true(reason.startsWith("instance hello-1 crashed (exit code 1); xxx"));
  t.true(reason.endsWith("…"));
  t.is(reason.length, 70);
});

test("table: secrets list their keys and never their values", (t) => {
  const out = renderObjects("table", kindByWord("secrets"), [db], { single: false, now });
  t.is(out, "NAME   KEYS            STATUS   AGE\ndb     password,user   READY    1h\n");
  t.false(out.includes("s3cret"));
});

test("table: subscriptions summarise their filters", (t) => {
  const sub = create(SubscriptionSchema, {
    meta: { name: "orders" },
    spec: {
      function: "ship",
      filters: [
        { dialect: { case: "exact", value: { attributes: { type: "order.created" } } } },
        { dialect: { case: "prefix", value: { attributes: { source: "/shop" } } } },
      ],
    },
  });
  const out = renderObjects("table", kindByWord("sub"), [sub], { single: false, now });
  t.regex(out, /orders\s+ship\s+type=order\.created, source=\/shop\*\s+-\s+-/);
});

test("json: one named object prints alone with its kind first", (t) => {
  const out = JSON.parse(renderObjects("json", kindByWord("function"), [hello], { single: true }));
  t.deepEqual(Object.keys(out), ["kind", "meta", "spec", "status"]);
  t.is(out.kind, "Function");
  t.is(out.meta.revision, "3");
  t.is(out.spec.timeout, "5s");
  t.is(out.status.phase, "PHASE_READY");
});

test("json: a list prints as { items: [...] }, even with one item", (t) => {
  const out = JSON.parse(renderObjects("json", kindByWord("secret"), [db], { single: false }));
  t.deepEqual(Object.keys(out), ["items"]);
  t.is(out.items[0].kind, "Secret");
  t.deepEqual(out.items[0].keys, ["password", "user"]);
});

test("yaml: get -o yaml output parses back as a manifest with the same spec", (t) => {
  const out = renderObjects("yaml", kindByWord("function"), [hello], { single: true });
  t.is(parse(out).kind, "Function");
  const [doc] = parseManifest(out, "get.yaml");
  t.is(doc?.name, "hello");
  t.is(doc?.org, "default");
  t.true(equals(FunctionSpecSchema, doc?.spec as never, hello.spec as never));
});

test("yaml: a list round-trips too, revealed secrets included", (t) => {
  const db2 = clone(SecretSchema, db);
  if (db2.meta) db2.meta.name = "db2";
  const out = renderObjects("yaml", kindByWord("secret"), [db, db2], { single: false });
  const docs = parseManifest(out, "get.yaml");
  t.deepEqual(
    docs.map((d) => d.name),
    ["db", "db2"],
  );
  const spec = docs[0]?.spec as SecretSpec | undefined;
  t.deepEqual(spec?.data, { password: "s3cret", user: "app" });
});

test("records: JSON lines, or YAML documents, one per streamed object", (t) => {
  t.is(renderRecord("json", { a: 1, b: [2] }), '{"a":1,"b":[2]}\n');
  t.is(renderRecord("yaml", { a: 1 }), "---\na: 1\n");
});

test("table rows against fixed widths line up with the header; a long cell pushes its row", (t) => {
  const widths = [4, 6];
  t.is(
    formatRow(["ID", "STATUS", "AGE"], widths) + formatRow(["a", "READY", "1s"], widths),
    "ID     STATUS   AGE\na      READY    1s\n",
  );
  t.is(formatRow(["toolong", "x", "y"], widths), "toolong   x        y\n");
});

test("log lines: time, instance, stream, [run id] and text; --raw is the text alone", (t) => {
  const line = create(LogLineSchema, {
    time: timestampFromDate(new Date("2026-01-02T03:04:05.120Z")),
    function: "hello",
    instance: "hello-1",
    stream: LogStream.STDERR,
    text: "Hello, Jon",
    runId: "0b7c6e4a",
  });
  t.is(formatLogLine(line, false), "2026-01-02T03:04:05.120Z hello-1 stderr [0b7c6e4a] Hello, Jon\n");
  t.is(formatLogLine(line, true), "Hello, Jon\n");
  const outside = create(LogLineSchema, { ...line, runId: "", stream: LogStream.STDOUT });
  t.is(formatLogLine(outside, false), "2026-01-02T03:04:05.120Z hello-1 stdout Hello, Jon\n");
});
