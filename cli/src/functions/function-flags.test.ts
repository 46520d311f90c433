import { create } from "@bufbuild/protobuf";
import { FunctionSpecSchema } from "@dispatch/proto";
import test from "ava";
import { InvalidArgumentError } from "commander";
import { UsageError } from "../errors.js";
import {
  applyFunctionChanges,
  parseCountFlag,
  parseDurationFlag,
  parseEnvFlag,
  parseSchema,
  toDuration,
} from "./function-flags.js";

test("durations: 30s, 500ms and 2m, as milliseconds and as protobuf Durations", (t) => {
  t.is(parseDurationFlag("30s"), 30_000);
  t.is(parseDurationFlag("500ms"), 500);
  t.is(parseDurationFlag("2m"), 120_000);
  t.like(toDuration(parseDurationFlag("500ms")), { seconds: 0n, nanos: 500_000_000 });
  t.like(toDuration(parseDurationFlag("1m30s")), { seconds: 90n, nanos: 0 });
});

test("durations: anything else, or zero, is a usage error", (t) => {
  for (const bad of ["soon", "30x", "0s", ""]) {
    t.throws(() => parseDurationFlag(bad), { instanceOf: InvalidArgumentError }, bad);
  }
});

test("--env KEY=VALUE accumulates; the value may hold '='; a bare key is an error", (t) => {
  const env = parseEnvFlag("B=x=y", parseEnvFlag("A=1"));
  t.deepEqual(env, [
    ["A", "1"],
    ["B", "x=y"],
  ]);
  t.deepEqual(parseEnvFlag("EMPTY="), [["EMPTY", ""]]);
  t.throws(() => parseEnvFlag("NOVALUE"), { instanceOf: InvalidArgumentError });
  t.throws(() => parseEnvFlag("=x"), { instanceOf: InvalidArgumentError });
});

test("counts are whole numbers, 0 or more", (t) => {
  t.is(parseCountFlag("0"), 0);
  t.is(parseCountFlag("8"), 8);
  for (const bad of ["-1", "1.5", "many"])
    t.throws(() => parseCountFlag(bad), { instanceOf: InvalidArgumentError });
});

test("schema files: JSON objects; anything else is a usage error naming the file", (t) => {
  t.deepEqual(parseSchema('{"type": "object"}', "in.json"), { type: "object" });
  t.regex(
    t.throws(() => parseSchema("{nope", "in.json"), { instanceOf: UsageError })?.message ?? "",
    /^in\.json is not valid JSON: /,
  );
  t.regex(
    t.throws(() => parseSchema("[1]", "out.json"), { instanceOf: UsageError })?.message ?? "",
    /^out\.json must hold a JSON Schema object/,
  );
});

test("changes: only what the flags name changes; one scale flag keeps the others", (t) => {
  const spec = create(FunctionSpecSchema, {
    runtime: "nodejs",
    handler: "hello.js",
    env: { A: "1" },
    secrets: ["db"],
    scale: { min: 1, max: 3 },
  });
  applyFunctionChanges(spec, { maxScale: 5, env: { B: "2" }, timeout: toDuration(10_000) });
  t.is(spec.handler, "hello.js");
  t.deepEqual(spec.secrets, ["db"]);
  t.deepEqual(spec.env, { B: "2" }, "--env replaces the variables");
  t.like(spec.scale, { min: 1, max: 5 });
  t.like(spec.timeout, { seconds: 10n });
  applyFunctionChanges(spec, { schemaIn: { type: "object" } });
  t.deepEqual(spec.schema?.in, { type: "object" });
  t.is(spec.schema?.out, undefined);
});
