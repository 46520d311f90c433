import test from "ava";
import { compileCesql, evaluateCesql } from "./compile.js";
import { CesqlGenericError, CesqlMissingFunctionError, CesqlParseError } from "./errors.js";
import type { CesqlEvent } from "./event.js";

const event: CesqlEvent = { specversion: "1.0", id: "1", source: "/s", type: "com.example.a", priority: "5" };

test("compileCesql: a valid expression compiles once and evaluates against many events", (t) => {
  const compiled = compileCesql("type LIKE 'com.example.%' AND INT(priority) > 3");
  if (!compiled.ok) return t.fail(compiled.errors[0]?.message);
  t.is(compiled.expression.source, "type LIKE 'com.example.%' AND INT(priority) > 3");
  t.true(compiled.expression.matches(event));
  t.false(compiled.expression.matches({ ...event, priority: "2" }));
  t.false(compiled.expression.matches({ ...event, type: "org.other" }));
  t.deepEqual(compiled.expression.evaluate({ ...event, priority: "9" }), { value: true, errors: [] });
});

test("compileCesql: a syntax error is one ParseError that says where and what", (t) => {
  const compiled = compileCesql("type = 'a' AND (source = '/s'");
  t.false(compiled.ok);
  if (compiled.ok) return;
  t.is(compiled.errors.length, 1);
  const [error] = compiled.errors;
  t.true(error instanceof CesqlParseError);
  t.is(
    error?.message,
    'at column 30: expected ")" to close the "(" at column 16, found the end of the expression',
  );
  t.deepEqual(error?.position, { offset: 29, line: 1, column: 30 });
});

test("compileCesql: every call to a function that does not exist (by name or by arity) is reported at once", (t) => {
  const compiled = compileCesql("NOSUCH(type) OR LEFT(type) = 'a' OR false AND upper(type, 1) = 'A'");
  t.false(compiled.ok);
  if (compiled.ok) return;
  t.deepEqual(
    compiled.errors.map((e) => [e instanceof CesqlMissingFunctionError, e.position?.column]),
    [
      [true, 1],
      [true, 17],
      [true, 47],
    ],
  );
  t.regex(
    compiled.errors[0]?.message ?? "",
    /there is no function "NOSUCH" \(the functions are ABS, BOOL, CONCAT/,
  );
  t.regex(compiled.errors[1]?.message ?? "", /LEFT\(\) with 1 argument: LEFT takes 2 arguments/);
  t.regex(compiled.errors[2]?.message ?? "", /UPPER\(\) with 2 arguments: UPPER takes 1 argument$/);
});

test("evaluateCesql: a call to a missing function is reported only if evaluation reaches it (§3.5)", (t) => {
  t.deepEqual(evaluateCesql("false AND NOSUCH()", event), { value: false, errors: [] });
  const reached = evaluateCesql("true AND NOSUCH()", event);
  t.is(reached.value, false);
  t.true(reached.errors[0] instanceof CesqlMissingFunctionError);
});

test("limits: options override the defaults one by one", (t) => {
  t.false(compileCesql("1 + 1", { limits: { maxLength: 4 } }).ok);
  t.true(compileCesql("1 + 1", { limits: { maxLength: 5 } }).ok);
  t.false(compileCesql("((1))", { limits: { maxDepth: 2 } }).ok);
  t.true(compileCesql("((1))", { limits: { maxDepth: 3 } }).ok);
});

test("limits: an evaluation that runs over its work budget stops with a GenericError and its zero value, and does not match", (t) => {
  const compiled = compileCesql("blob LIKE '%a%b%c%d' OR TRUE", { limits: { maxWork: 10_000 } });
  if (!compiled.ok) return t.fail(compiled.errors[0]?.message);
  const long = { ...event, blob: "x".repeat(20_000) };
  const result = compiled.expression.evaluate(long);
  t.is(result.value, false);
  t.is(result.errors.length, 1);
  t.true(result.errors[0] instanceof CesqlGenericError);
  t.regex(
    result.errors[0]?.message ?? "",
    /^at column 6: evaluating the expression took more than its budget of 10000/,
  );
  t.false(compiled.expression.matches(long));
  t.true(
    compiled.expression.matches({ ...event, blob: "x".repeat(100) }),
    "a short attribute stays within budget",
  );
});

test("limits: CONCAT of long attributes is charged before the string is built", (t) => {
  const big = { ...event, blob: "y".repeat(1_000_000) };
  const result = evaluateCesql(`LENGTH(CONCAT(${Array(10).fill("blob").join(", ")}))`, big);
  t.is(result.value, 0);
  t.true(result.errors[0] instanceof CesqlGenericError);
  t.deepEqual(evaluateCesql("LENGTH(CONCAT(blob, blob))", big), { value: 2_000_000, errors: [] });
});

test("evaluate: the default limits accept an expression at the depth cap and evaluate it without trouble", (t) => {
  // 127 nested ABS calls around a literal: 128 levels.
  const source = `${"ABS(".repeat(127)}-1${")".repeat(127)}`;
  const compiled = compileCesql(source);
  if (!compiled.ok) return t.fail(compiled.errors[0]?.message);
  t.deepEqual(compiled.expression.evaluate(event), { value: 1, errors: [] });
  t.false(compileCesql(`ABS(${source})`).ok);
});
