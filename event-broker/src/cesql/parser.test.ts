import test from "ava";
import type { CesqlNode } from "./ast.js";
import { CesqlParseError } from "./errors.js";
import { CESQL_DEFAULT_LIMITS, type CesqlLimits } from "./limits.js";
import { parseCesql } from "./parser.js";

/** The tree as an s-expression, to compare shapes. */
function show(node: CesqlNode): string {
  switch (node.kind) {
    case "literal":
      return typeof node.value === "string" ? `'${node.value}'` : String(node.value);
    case "attribute":
      return node.name;
    case "exists":
      return `(EXISTS ${node.name})`;
    case "not":
      return `(NOT ${show(node.operand)})`;
    case "negate":
      return `(- ${show(node.operand)})`;
    case "binary":
      return `(${node.operator} ${show(node.left)} ${show(node.right)})`;
    case "like":
      return `(${node.negated ? "NOT LIKE" : "LIKE"} ${show(node.operand)} '${node.pattern.source}')`;
    case "in":
      return `(${node.negated ? "NOT IN" : "IN"} ${show(node.operand)} ${node.set.map(show).join(" ")})`;
    case "call":
      return `(${node.name}${node.args.map((a) => ` ${show(a)}`).join("")})`;
  }
}

function tree(source: string, limits: CesqlLimits = CESQL_DEFAULT_LIMITS): string {
  const parsed = parseCesql(source, limits);
  if (!parsed.ok) throw new Error(parsed.error.message);
  return show(parsed.node);
}

function parseError(source: string, limits: CesqlLimits = CESQL_DEFAULT_LIMITS): CesqlParseError {
  const parsed = parseCesql(source, limits);
  if (parsed.ok) throw new Error(`parsed: ${source}`);
  return parsed.error;
}

test("parser: * / % bind tighter than + -, which bind tighter than comparisons, then AND/OR/XOR (§3.6)", (t) => {
  t.is(tree("4 * 2 + 4 / 2"), "(+ (* 4 2) (/ 4 2))");
  t.is(tree("1 + 2 = 3 AND 4 % 3 < 2"), "(AND (= (+ 1 2) 3) (< (% 4 3) 2))");
  t.is(tree("4 * (2 + 4) / 2"), "(/ (* 4 (+ 2 4)) 2)");
});

test("parser: operators of one level group left to right (§3.6), so 10 - 2 - 3 is (10 - 2) - 3", (t) => {
  t.is(tree("10 - 2 - 3"), "(- (- 10 2) 3)");
  t.is(tree("8 / 4 * 2"), "(* (/ 8 4) 2)");
  t.is(tree("1 < 2 = true"), "(= (< 1 2) true)");
});

test("parser: AND, OR and XOR share a level and group to the right, as the grammar's <assoc=right> says", (t) => {
  t.is(tree("a AND b OR c"), "(AND a (OR b c))");
  t.is(tree("a OR b AND c"), "(OR a (AND b c))");
  t.is(tree("a XOR b AND c"), "(XOR a (AND b c))");
  t.is(tree("(a AND b) OR c"), "(OR (AND a b) c)");
});

test("parser: LIKE binds tighter than IN, and both tighter than the binary operators (§3.6)", (t) => {
  t.is(tree("a + b LIKE 'x'"), "(+ a (LIKE b 'x'))");
  t.is(tree("a = b IN (1, 2)"), "(= a (IN b 1 2))");
  t.is(tree("a LIKE 'x' IN (true)"), "(IN (LIKE a 'x') true)");
  t.is(tree("a NOT LIKE 'x%' AND b NOT IN (1, 2)"), "(AND (NOT LIKE a 'x%') (NOT IN b 1 2))");
});

test("parser: NOT and unary - take only the value right after them (§3.6: unary operators bind tightest)", (t) => {
  t.is(tree("NOT a = b"), "(= (NOT a) b)");
  t.is(tree("NOT EXISTS time"), "(NOT (EXISTS time))");
  t.is(tree("- a * b"), "(* (- a) b)");
  t.is(tree("NOT -a"), "(NOT (- a))");
  t.is(tree("NOT (a = b)"), "(NOT (= a b))");
});

test("parser: a sign right before digits is part of the number; elsewhere it is an operator", (t) => {
  t.is(tree("-2147483648"), "-2147483648");
  t.is(tree("+5"), "5");
  t.is(tree("4-1"), "(- 4 1)");
  t.is(tree("4 + -1"), "(+ 4 -1)");
  t.is(tree("--10"), "(- -10)");
  t.is(tree("- 10"), "(- 10)");
  t.is(tree("-'10'"), "(- '10')");
  t.is(tree("007"), "7");
});

test("parser: an integer literal outside 32 bits is a parse error (§2.2)", (t) => {
  t.regex(
    parseError("2147483648").message,
    /at column 1: the integer 2147483648 is outside the 32-bit range/,
  );
  t.regex(parseError("x = -2147483649").message, /at column 5: the integer -2147483649/);
  t.regex(parseError("99999999999999999999999").message, /outside the 32-bit range/);
  t.is(tree("00000000000000002147483647"), "2147483647");
});

test("parser: keywords and function names are case-insensitive, attribute names are read in lowercase (§2)", (t) => {
  t.is(tree("nOt ExIsTs SoUrCe aNd tRuE xOr FaLsE"), "(AND (NOT (EXISTS source)) (XOR true false))");
  t.is(tree("int(hop) < Int(TTL)"), "(< (INT hop) (INT ttl))");
  t.is(tree("x nOt LiKe 'a' oR y iN (1)"), "(OR (NOT LIKE x 'a') (IN y 1))");
  t.is(tree("concat_ws(',', a)"), "(CONCAT_WS ',' a)");
});

test("parser: function calls take zero or more arguments, with whitespace before the parenthesis", (t) => {
  t.is(tree("CONCAT()"), "(CONCAT)");
  t.is(tree("CONCAT ('a', LOWER(b), 1 + 2)"), "(CONCAT 'a' (LOWER b) (+ 1 2))");
});

test("parser: every syntax error names its position and what was expected", (t) => {
  const cases: [string, RegExp][] = [
    ["ABC(", /^at column 5: the expression ends where a value was expected$/],
    ["(1 + 2", /^at column 7: expected "\)" to close the "\(" at column 1, found the end of the expression$/],
    ["x LIKE 123", /^at column 8: LIKE needs a string literal as its pattern .*found the number 123$/],
    ["x LIKE y", /^at column 8: LIKE needs a string literal/],
    ["1 2", /^at column 3: expected an operator or the end of the expression, found the number 2$/],
    ["a NOT b", /^at column 3: NOT here must be followed by LIKE or IN, found "b"$/],
    ["x IN ()", /^at column 7: the list after IN is empty/],
    ["x IN 1", /^at column 6: IN needs a list in parentheses/],
    ["EXISTS 1", /^at column 8: EXISTS needs an attribute name, found the number 1$/],
    ["EXISTS AND", /^at column 8: EXISTS needs an attribute name, found the keyword AND$/],
    ["AND", /^at column 1: expected a value, found the keyword AND$/],
    ["", /^at column 1: the expression is empty$/],
    ["   ", /^at column 4: the expression ends where a value was expected$/],
    [")", /^at column 1: expected a value, found "\)"$/],
    ["+ 5", /^at column 1: CESQL has no unary "\+"/],
    ["my_ext = 1", /^at column 1: "my_ext" is not an attribute name/],
    ["f1(2)", /^at column 1: "f1" cannot name a function/],
    ["LEFT('a' 1)", /^at column 10: expected "," or "\)" in the arguments of LEFT, found the number 1$/],
    ["x IN (1 2)", /^at column 9: expected "," or "\)" in the list of IN, found the number 2$/],
    ["a\n  = = b", /^at line 2, column 5: expected a value, found "="$/],
  ];
  for (const [source, message] of cases) {
    const error = parseError(source);
    t.true(error instanceof CesqlParseError);
    t.regex(error.message, message, source);
    t.truthy(error.position, source);
  }
});

test("parser: the position counts characters, so an emoji earlier on the line is one column", (t) => {
  const error = parseError("'😀' = = 1");
  t.is(error.position?.column, 7);
  t.is(error.position?.offset, 7);
});

test("limits: an expression longer than maxLength is refused before it is read", (t) => {
  const limits = { ...CESQL_DEFAULT_LIMITS, maxLength: 20 };
  t.is(tree(`'${"a".repeat(18)}'`, limits), `'${"a".repeat(18)}'`);
  t.regex(parseError(`'${"a".repeat(19)}'`, limits).message, /21 characters long; the limit is 20/);
  t.regex(parseError("x".repeat(CESQL_DEFAULT_LIMITS.maxLength + 1)).message, /the limit is 4096/);
});

test("limits: nesting up to maxDepth levels parses, one more is a parse error that names its position", (t) => {
  const limits = { ...CESQL_DEFAULT_LIMITS, maxDepth: 10 };
  // The expression is level 1; each parenthesis, prefix operator, binary operator or call adds one.
  const nested = (n: number) => `${"(".repeat(n)}1${")".repeat(n)}`;
  t.is(tree(nested(9), limits), "1");
  t.regex(
    parseError(nested(10), limits).message,
    /^at column 10: the expression nests deeper than 10 levels/,
  );
  t.is(tree(`${"NOT ".repeat(9)}true`, limits), `${"(NOT ".repeat(9)}true${")".repeat(9)}`);
  t.regex(parseError(`${"NOT ".repeat(10)}true`, limits).message, /nests deeper than 10 levels/);
  t.truthy(tree(`1${" + 1".repeat(9)}`, limits));
  t.regex(parseError(`1${" + 1".repeat(10)}`, limits).message, /nests deeper than 10 levels/);
  t.regex(parseError(`a${" OR a".repeat(10)}`, limits).message, /x IN \(a, b, …\)/);
});

test("limits: hostile nesting far beyond the stack's reach is a parse error, never a stack overflow", (t) => {
  const limits = { ...CESQL_DEFAULT_LIMITS, maxLength: 2_000_000 };
  const n = 200_000;
  const hostile = [
    `${"(".repeat(n)}1${")".repeat(n)}`,
    `${"NOT ".repeat(n)}true`,
    `${"-".repeat(n)}1`,
    `${"- ".repeat(n)}1`,
    `true${" AND true".repeat(n)}`,
    `1${" + 1".repeat(n)}`,
    `${"ABS(".repeat(n)}1${")".repeat(n)}`,
    `${"1 IN (".repeat(n)}1${")".repeat(n)}`,
    `1${" LIKE 'a'".repeat(n)}`,
  ];
  for (const source of hostile) {
    const error = parseError(source, limits);
    t.regex(error.message, /nests deeper than 128 levels/, source.slice(0, 20));
  }
});
