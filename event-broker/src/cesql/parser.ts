/**
 * The CESQL parser (§2, §3.6; the grammar `CESQLParser.g4`), by precedence climbing.
 *
 * Precedence, tightest first: function calls and literals; the prefix `NOT` and `-` (which take only what
 * directly follows: `NOT a = b` is `(NOT a) = b`, as in the grammar); `LIKE`; `EXISTS`; `IN`; `* / %`; `+ -`;
 * the comparisons; and `AND`, `OR`, `XOR` at one level. Within a level operators group left to right, except
 * `AND`/`OR`/`XOR`, which group to the right as the grammar marks them (`<assoc=right>`), as every SDK built
 * on it does: `a AND b OR c` is `a AND (b OR c)`. Operands are still evaluated left to right.
 *
 * A sign written right before digits belongs to the number, so `-2147483648` is a literal in range; a
 * sign elsewhere is an operator (`4-1` and `4 - 1` are subtractions, `--10` negates `-10`).
 *
 * Keywords, function names and attribute names are case-insensitive; attribute names are read in lowercase,
 * as CloudEvents attribute names are written.
 */

import type { BinaryOperator, CesqlNode } from "./ast.js";
import { CesqlParseError, describePosition, positionIn } from "./errors.js";
import { resolveFunction } from "./functions.js";
import { LexError, type Token, tokenize } from "./lexer.js";
import { compileLikePattern } from "./like.js";
import type { CesqlLimits } from "./limits.js";
import { INTEGER_MAX, INTEGER_MIN } from "./values.js";

/** The tree of an expression, or why it is not one. */
export type ParseOutcome =
  | { readonly ok: true; readonly node: CesqlNode }
  | { readonly ok: false; readonly error: CesqlParseError };

/** Parses `source` within `limits` (length and nesting). */
export function parseCesql(source: string, limits: CesqlLimits): ParseOutcome {
  if (source.length > limits.maxLength) {
    return failure(
      source,
      limits.maxLength,
      `the expression is ${source.length} characters long; the limit is ${limits.maxLength}`,
    );
  }
  try {
    const tokens = tokenize(source);
    return { ok: true, node: parseTokens(source, tokens, limits) };
  } catch (error) {
    if (error instanceof LexError || error instanceof SyntaxFailure) {
      return failure(source, error.offset, error.detail);
    }
    throw error;
  }
}

function failure(source: string, offset: number, detail: string): ParseOutcome {
  return { ok: false, error: new CesqlParseError(detail, positionIn(source, offset)) };
}

/** A syntax error inside the parser, unwinding it to `parseCesql`. */
class SyntaxFailure extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/** A parsed subtree and its height (the longest path to a leaf), which the nesting cap bounds. */
interface Parsed {
  readonly node: CesqlNode;
  readonly height: number;
}

const LOGIC = 1;
const COMPARISON = 2;
const ADDITIVE = 3;
const MULTIPLICATIVE = 4;
const IN = 5;
const LIKE = 6;

interface InfixOperator {
  readonly precedence: number;
  /** How many tokens the operator is (2 for `NOT LIKE`, `NOT IN`). */
  readonly width: number;
  readonly operator: BinaryOperator | "LIKE" | "IN";
  readonly negated: boolean;
  readonly rightAssociative: boolean;
}

const keywords = new Set(["AND", "OR", "XOR", "NOT", "LIKE", "EXISTS", "IN", "TRUE", "FALSE"]);
const symbolOperators: Readonly<Record<string, [BinaryOperator, number]>> = {
  "*": ["*", MULTIPLICATIVE],
  "/": ["/", MULTIPLICATIVE],
  "%": ["%", MULTIPLICATIVE],
  "+": ["+", ADDITIVE],
  "-": ["-", ADDITIVE],
  "=": ["=", COMPARISON],
  "!=": ["!=", COMPARISON],
  "<>": ["!=", COMPARISON],
  "<": ["<", COMPARISON],
  "<=": ["<=", COMPARISON],
  ">": [">", COMPARISON],
  ">=": [">=", COMPARISON],
};

function keywordOf(token: Token): string | undefined {
  if (token.kind !== "word") return undefined;
  const upper = token.text.toUpperCase();
  return keywords.has(upper) ? upper : undefined;
}

function parseTokens(source: string, tokens: readonly Token[], limits: CesqlLimits): CesqlNode {
  let index = 0;
  const peek = (ahead = 0): Token => tokens[Math.min(index + ahead, tokens.length - 1)] as Token;
  const next = (): Token => {
    const token = peek();
    if (index < tokens.length - 1) index++;
    return token;
  };
  const fail = (offset: number, detail: string): never => {
    throw new SyntaxFailure(offset, detail);
  };
  const guard = (depth: number, height: number, offset: number): void => {
    if (depth > limits.maxDepth || height > limits.maxDepth) {
      fail(
        offset,
        `the expression nests deeper than ${limits.maxDepth} levels; flatten it ` +
          "(a long list of alternatives reads better as x IN (a, b, …))",
      );
    }
  };

  const infixAt = (token: Token): InfixOperator | undefined => {
    const symbol = symbolOperators[token.kind];
    if (symbol !== undefined) {
      const [operator, precedence] = symbol;
      return { precedence, width: 1, operator, negated: false, rightAssociative: false };
    }
    const keyword = keywordOf(token);
    switch (keyword) {
      case "AND":
      case "OR":
      case "XOR":
        return { precedence: LOGIC, width: 1, operator: keyword, negated: false, rightAssociative: true };
      case "LIKE":
        return { precedence: LIKE, width: 1, operator: "LIKE", negated: false, rightAssociative: false };
      case "IN":
        return { precedence: IN, width: 1, operator: "IN", negated: false, rightAssociative: false };
      case "NOT": {
        const after = keywordOf(peek(1));
        if (after === "LIKE") {
          return { precedence: LIKE, width: 2, operator: "LIKE", negated: true, rightAssociative: false };
        }
        if (after === "IN") {
          return { precedence: IN, width: 2, operator: "IN", negated: true, rightAssociative: false };
        }
        return fail(token.offset, `NOT here must be followed by LIKE or IN, found ${describe(peek(1))}`);
      }
      default:
        return undefined;
    }
  };

  const parseExpression = (minPrecedence: number, depth: number): Parsed => {
    guard(depth, 0, peek().offset);
    let { node, height } = parsePrefix(depth);
    for (;;) {
      const token = peek();
      const infix = infixAt(token);
      if (infix === undefined || infix.precedence < minPrecedence) break;
      for (let i = 0; i < infix.width; i++) next();
      const offset = token.offset;
      if (infix.operator === "LIKE") {
        const pattern = next();
        if (pattern.kind !== "string") {
          fail(
            pattern.offset,
            `LIKE needs a string literal as its pattern (such as 'abc%'), found ${describe(pattern)}`,
          );
        }
        node = {
          kind: "like",
          offset,
          negated: infix.negated,
          operand: node,
          pattern: compileLikePattern(pattern.value ?? ""),
        };
        height += 1;
      } else if (infix.operator === "IN") {
        const set = parseList("IN", depth + 1, false);
        node = { kind: "in", offset, negated: infix.negated, operand: node, set: set.nodes };
        height = Math.max(height, set.height) + 1;
      } else {
        const right = parseExpression(
          infix.rightAssociative ? infix.precedence : infix.precedence + 1,
          depth + 1,
        );
        node = { kind: "binary", offset, operator: infix.operator, left: node, right: right.node };
        height = Math.max(height, right.height) + 1;
      }
      guard(depth, height, offset);
    }
    return { node, height };
  };

  /** A value, a parenthesized expression, or a prefix operator applied to one. */
  const parsePrefix = (depth: number): Parsed => {
    guard(depth, 0, peek().offset);
    const token = next();
    switch (token.kind) {
      case "(": {
        guard(depth + 1, 0, token.offset);
        const inner = parseExpression(0, depth + 1);
        const close = next();
        if (close.kind !== ")") {
          fail(
            close.offset,
            `expected ")" to close the "(" ${describePosition(positionIn(source, token.offset))}, found ${describe(close)}`,
          );
        }
        return inner;
      }
      case "integer":
        return { node: integerLiteral(token, "", token.offset), height: 1 };
      case "-":
      case "+": {
        const following = peek();
        if (following.kind === "integer" && following.offset === token.offset + 1) {
          next();
          return { node: integerLiteral(following, token.kind, token.offset), height: 1 };
        }
        if (token.kind === "+") {
          return fail(
            token.offset,
            'CESQL has no unary "+": a sign goes right before the digits of a number (+5)',
          );
        }
        guard(depth + 1, 0, token.offset);
        const operand = parsePrefix(depth + 1);
        return {
          node: { kind: "negate", offset: token.offset, operand: operand.node },
          height: operand.height + 1,
        };
      }
      case "string":
        return { node: { kind: "literal", offset: token.offset, value: token.value ?? "" }, height: 1 };
      case "word":
        return parseWord(token, depth);
      case "end":
        return fail(
          token.offset,
          token.offset === 0 ? "the expression is empty" : "the expression ends where a value was expected",
        );
      default:
        return fail(token.offset, `expected a value, found ${describe(token)}`);
    }
  };

  const parseWord = (token: Token, depth: number): Parsed => {
    const keyword = keywordOf(token);
    switch (keyword) {
      case "TRUE":
      case "FALSE":
        return { node: { kind: "literal", offset: token.offset, value: keyword === "TRUE" }, height: 1 };
      case "NOT": {
        guard(depth + 1, 0, token.offset);
        const operand = parsePrefix(depth + 1);
        return {
          node: { kind: "not", offset: token.offset, operand: operand.node },
          height: operand.height + 1,
        };
      }
      case "EXISTS": {
        const name = next();
        if (name.kind !== "word" || keywordOf(name) !== undefined) {
          fail(name.offset, `EXISTS needs an attribute name, found ${describe(name)}`);
        }
        return { node: { kind: "exists", offset: token.offset, name: attributeName(name) }, height: 1 };
      }
      case undefined:
        break;
      default:
        return fail(token.offset, `expected a value, found the keyword ${keyword}`);
    }
    if (peek().kind === "(") {
      if (!/^[A-Za-z][A-Za-z_]*$/.test(token.text)) {
        fail(
          token.offset,
          `${JSON.stringify(token.text)} cannot name a function: function names are letters and "_"`,
        );
      }
      next();
      const args = parseList(token.text, depth + 1, true);
      const name = token.text.toUpperCase();
      return {
        node: {
          kind: "call",
          offset: token.offset,
          name,
          args: args.nodes,
          fn: resolveFunction(name, args.nodes.length),
        },
        height: args.height + 1,
      };
    }
    return { node: { kind: "attribute", offset: token.offset, name: attributeName(token) }, height: 1 };
  };

  /**
   * A parenthesized, comma-separated list: a function's arguments (the "(" already read; may be empty) or
   * the set of IN (must have a value).
   */
  const parseList = (
    owner: string,
    depth: number,
    isArguments: boolean,
  ): { nodes: CesqlNode[]; height: number } => {
    if (!isArguments) {
      const open = next();
      if (open.kind !== "(") {
        fail(open.offset, `IN needs a list in parentheses, such as x IN ('a', 'b'), found ${describe(open)}`);
      }
      if (peek().kind === ")") fail(peek().offset, "the list after IN is empty; it needs at least one value");
    } else if (peek().kind === ")") {
      next();
      return { nodes: [], height: 0 };
    }
    const nodes: CesqlNode[] = [];
    let height = 0;
    for (;;) {
      const item = parseExpression(0, depth);
      nodes.push(item.node);
      height = Math.max(height, item.height);
      const separator = next();
      if (separator.kind === ")") return { nodes, height };
      if (separator.kind !== ",") {
        const what = isArguments ? `the arguments of ${owner}` : "the list of IN";
        fail(separator.offset, `expected "," or ")" in ${what}, found ${describe(separator)}`);
      }
    }
  };

  const parsed = parseExpression(0, 1);
  const end = peek();
  if (end.kind !== "end")
    fail(end.offset, `expected an operator or the end of the expression, found ${describe(end)}`);
  return parsed.node;
}

/** An integer literal (§2.2: it must be a valid 32-bit signed integer). */
function integerLiteral(digits: Token, sign: "" | "+" | "-", offset: number): CesqlNode {
  const significant = digits.text.replace(/^0+(?=.)/, "");
  const magnitude = significant.length > 10 ? Number.POSITIVE_INFINITY : Number(significant);
  const value = sign === "-" ? -magnitude : magnitude;
  if (value < INTEGER_MIN || value > INTEGER_MAX) {
    throw new SyntaxFailure(
      offset,
      `the integer ${sign}${digits.text} is outside the 32-bit range (${INTEGER_MIN} to ${INTEGER_MAX})`,
    );
  }
  return { kind: "literal", offset, value: value + 0 };
}

/** The attribute a word names (§2.2: letters and digits; read in lowercase). */
function attributeName(token: Token): string {
  if (!/^[A-Za-z0-9]+$/.test(token.text)) {
    throw new SyntaxFailure(
      token.offset,
      `${JSON.stringify(token.text)} is not an attribute name: CloudEvents attribute names are letters and digits`,
    );
  }
  return token.text.toLowerCase();
}

function describe(token: Token): string {
  switch (token.kind) {
    case "end":
      return "the end of the expression";
    case "string":
      return `the string ${token.text.length > 40 ? `${token.text.slice(0, 40)}…` : token.text}`;
    case "integer":
      return `the number ${token.text}`;
    case "word": {
      const keyword = keywordOf(token);
      return keyword === undefined ? JSON.stringify(token.text) : `the keyword ${keyword}`;
    }
    default:
      return JSON.stringify(token.text);
  }
}
