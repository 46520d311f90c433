import { create, fromJson, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { RunSchema } from "@dispatch/proto";
import test from "ava";
import { encodeRun, runBudget, valueSize } from "./run-size.js";

test("valueSize is the size of the value encoded as google.protobuf.Value", (t) => {
  const values: JsonValue[] = [
    null,
    true,
    0,
    -1.5,
    "",
    "héllo",
    "x".repeat(300),
    [],
    [1, "a", null, [true]],
    {},
    { a: 1, ünï: { b: ["x".repeat(20_000)] }, c: null },
    Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `n${i}` })),
  ];
  for (const value of values) {
    t.is(
      valueSize(value),
      toBinary(ValueSchema, fromJson(ValueSchema, value)).length,
      JSON.stringify(value).slice(0, 40),
    );
  }
});

test("the budget follows max_payload: input and output each take three eighths", (t) => {
  const budget = runBudget(1024 * 1024);
  t.is(budget.record, 1024 * 1024 - 1024);
  t.is(budget.input, Math.floor((budget.record * 3) / 8));
  t.is(budget.output, budget.input);
});

function runWith(stdout: string[], stderr: string[]) {
  return create(RunSchema, {
    meta: { name: "r", org: "o" },
    spec: { function: "f", input: fromJson(ValueSchema, { small: true }) },
    status: { logs: { stdout, stderr }, output: fromJson(ValueSchema, "kept") },
  });
}

test("logs too large for the record keep their last lines after a marker; the rest is kept", (t) => {
  const stdout = Array.from({ length: 5000 }, (_, i) => `out ${i} ${"o".repeat(200)}`);
  const stderr = ["one warning"];
  const run = runWith(stdout, stderr);
  const bytes = encodeRun(run, 64 * 1024);
  t.true(bytes.length <= 64 * 1024);
  const logs = run.status?.logs;
  t.regex(
    logs?.stdout[0] ?? "",
    /^\[… \d+ earlier lines \([\d.]+ KiB\) left out: a run record holds at most 64 KiB\]$/,
  );
  t.is(logs?.stdout.at(-1), stdout.at(-1), "the last line is kept");
  t.deepEqual(logs?.stderr, ["one warning"], "a small stream is kept whole");
  t.deepEqual(run.status?.output, fromJson(ValueSchema, "kept"));
  t.deepEqual(toBinary(RunSchema, run), bytes, "the run is what was stored");
});

test("a record that fits is stored as it is", (t) => {
  const run = runWith(["a", "b"], []);
  const before = toBinary(RunSchema, run);
  t.deepEqual(encodeRun(run, 64 * 1024), before);
});

test("when logs are not enough, output and input are left out, saying so", (t) => {
  const run = create(RunSchema, {
    meta: { name: "r", org: "o" },
    spec: { function: "f", input: fromJson(ValueSchema, "i".repeat(50_000)) },
    status: { output: fromJson(ValueSchema, "o".repeat(50_000)) },
  });
  const bytes = encodeRun(run, 16 * 1024);
  t.true(bytes.length <= 16 * 1024);
  t.is(run.status?.output, undefined);
  t.is(run.spec?.input, undefined);
  t.deepEqual(run.status?.reason, [
    "the output was left out: a run record holds at most 16 KiB",
    "the input was left out: a run record holds at most 16 KiB",
  ]);
});
