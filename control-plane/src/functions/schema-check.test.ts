import type { JsonObject } from "@bufbuild/protobuf";
import test from "ava";
import { SchemaCheck, SchemaError } from "./schema-check.js";

// With JavaScript's own RegExp each of these checks backtracks for hours (2^40
// steps); on RE2 they answer at once. A regression hangs the test until ava's timeout.
const evil = `${"a".repeat(40)}!`;

test("a catastrophic pattern answers: the value does not match", (t) => {
  const schemas = new SchemaCheck();
  const schema = { type: "object", properties: { name: { type: "string", pattern: "^(a+)+$" } } };
  t.deepEqual(schemas.problemsOf(schema), []);
  t.deepEqual(schemas.check("k/1/in", schema, { name: evil }), ['/name must match pattern "^(a+)+$"']);
  t.deepEqual(schemas.check("k/1/in", schema, { name: "aaaa" }), []);
});

test("patternProperties and propertyNames run on RE2 too", (t) => {
  const schemas = new SchemaCheck();
  const schema = {
    type: "object",
    patternProperties: { "^(a|a)+$": { type: "number" } },
    propertyNames: { pattern: "^((a+)+|b)$" },
  };
  t.deepEqual(schemas.problemsOf(schema), []);
  const problems = schemas.check("k/1/in", schema, { [evil]: "x" });
  t.true(problems.some((p) => p.includes("property name must be valid")));
  t.deepEqual(schemas.check("k/1/in", schema, { aaa: "x" }), ["/aaa must be number"]);
});

test("patterns RE2 cannot run are refused, each named, all at once", (t) => {
  const schemas = new SchemaCheck();
  const problems = schemas.problemsOf({
    type: "object",
    properties: {
      twice: { type: "string", pattern: "^(a)\\1$" },
      ahead: { type: "string", pattern: "^(?=x)x$" },
      fine: { type: "string", pattern: "^[a-z]+$" },
    },
  });
  t.is(problems.length, 2);
  t.regex(problems[0] ?? "", /^pattern "\^\(a\)\\\\1\$" cannot be used: .*no backreferences or lookaround/);
  t.regex(problems[1] ?? "", /^pattern "\^\(\?=x\)x\$" cannot be used/);
});

test("a stored schema with a pattern RE2 cannot run fails its check with SchemaError", (t) => {
  const schemas = new SchemaCheck();
  t.throws(() => schemas.check("k/1/in", { type: "string", pattern: "(?<=a)b" }, "ab"), {
    instanceOf: SchemaError,
  });
});

test("schemas past the limits are refused: size, nesting, pattern program size", (t) => {
  const schemas = new SchemaCheck({ maxBytes: 1024, maxDepth: 8, maxPatternSize: 100 });
  const big = { type: "object", description: "x".repeat(2000) };
  t.regex(schemas.problemsOf(big)[0] ?? "", /^is \d+ bytes of JSON; the limit is 1024$/);
  let deep: JsonObject = { type: "string" };
  for (let i = 0; i < 10; i++) deep = { type: "array", items: deep };
  t.regex(schemas.problemsOf(deep)[0] ?? "", /nests objects and arrays more than 8 deep/);
  t.regex(
    schemas.problemsOf({ type: "string", pattern: "^[a-z]{1,500}$" })[0] ?? "",
    /its RE2 program has \d+ instructions; the limit is 100/,
  );
});

test("uniqueItems: equal items (keys in any order) are duplicates; distinct ones pass", (t) => {
  const schemas = new SchemaCheck();
  const schema = { type: "array", uniqueItems: true };
  t.deepEqual(
    schemas.check("u/1/in", schema, [
      { a: 1, b: [1, 2] },
      { b: [1, 2], a: 1 },
    ]),
    ["(the value) must NOT have duplicate items (items ## 0 and 1 are identical)"],
  );
  t.deepEqual(schemas.check("u/1/in", schema, [{ a: 1 }, { a: 2 }, [1], "1", 1, null]), []);
  // A large array of distinct objects: pairwise comparison would take minutes.
  const many = Array.from({ length: 200_000 }, (_, i) => ({ id: i }));
  t.deepEqual(schemas.check("u/1/in", schema, many), []);
});
