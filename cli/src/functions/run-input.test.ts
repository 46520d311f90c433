import test from "ava";
import { UsageError } from "../errors.js";
import { parseRunInput } from "./run-input.js";

test("exec input: any JSON value, a literal 42 included", (t) => {
  t.is(parseRunInput("42", "--input"), 42);
  t.deepEqual(parseRunInput('{"name": "Jon", "place": "Winterfell"}', "--input"), {
    name: "Jon",
    place: "Winterfell",
  });
  t.is(parseRunInput('"text"', "--input"), "text");
  t.is(parseRunInput("null", "--input"), null);
  t.deepEqual(parseRunInput("[1, 2]", "--input"), [1, 2]);
});

test("exec input: invalid JSON is a usage error that names the problem", (t) => {
  const err = t.throws(() => parseRunInput('{"name": }', "--input"), { instanceOf: UsageError });
  t.regex(err?.message ?? "", /^--input is not valid JSON: Unexpected token/);
  t.regex(
    t.throws(() => parseRunInput("Jon", "--input"))?.message ?? "",
    /a string needs JSON quotes: --input '"Jon"'/,
  );
  t.regex(
    t.throws(() => parseRunInput("", "in.json"))?.message ?? "",
    /^in\.json is not valid JSON: .*it is empty/,
  );
});
