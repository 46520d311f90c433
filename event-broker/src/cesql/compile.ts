/**
 * CESQL's entry points: compile an expression once (and reject it with a message that says where and why),
 * then evaluate it against any number of events.
 *
 * @example
 * const compiled = compileCesql("type LIKE 'com.example.%' AND INT(priority) > 3");
 * if (!compiled.ok) throw new Error(compiled.errors.map((e) => e.message).join("; "));
 * compiled.expression.matches({ specversion: "1.0", id: "1", source: "/s", type: "com.example.a", priority: "5" }); // true
 */

import type { CesqlNode } from "./ast.js";
import { type CesqlError, CesqlMissingFunctionError, positionIn } from "./errors.js";
import { evaluateTree } from "./evaluate.js";
import type { CesqlEvent } from "./event.js";
import { explainMissingFunction } from "./functions.js";
import { CESQL_DEFAULT_LIMITS, type CesqlLimits } from "./limits.js";
import { parseCesql } from "./parser.js";
import type { CesqlValue } from "./values.js";

/** Options of `compileCesql` and `evaluateCesql`. */
export interface CesqlOptions {
  /** Overrides of `CESQL_DEFAULT_LIMITS`. */
  readonly limits?: Partial<CesqlLimits>;
}

/** An evaluation's outcome (§1, §3.3): always a value, and the errors that arose (empty when none did). */
export interface CesqlResult {
  readonly value: CesqlValue;
  readonly errors: readonly CesqlError[];
}

/** A compiled expression; it keeps no state between evaluations. */
export interface CesqlExpression {
  readonly source: string;
  /** The value of the expression for `event`, with its errors. Never throws. */
  evaluate(event: CesqlEvent): CesqlResult;
  /**
   * Whether `event` passes the expression as a filter (§1.2): only when the value is the Boolean `true` and
   * no error arose.
   */
  matches(event: CesqlEvent): boolean;
}

/** A compiled expression, or every reason it was rejected (each naming its position). */
export type CesqlCompileResult =
  | { readonly ok: true; readonly expression: CesqlExpression }
  | { readonly ok: false; readonly errors: readonly CesqlError[] };

/**
 * Compiles `source` once, for a filter that will be evaluated many times. It is rejected when it does not
 * parse (a ParseError, which also covers the limits on length and nesting) or when it calls a function that
 * does not exist with that many arguments (a MissingFunctionError for each such call: §3.3 asks for checks at
 * compile time where possible, and such a call can never succeed).
 */
export function compileCesql(source: string, options: CesqlOptions = {}): CesqlCompileResult {
  const limits = resolveLimits(options);
  const parsed = parseCesql(source, limits);
  if (!parsed.ok) return { ok: false, errors: [parsed.error] };
  const missing: CesqlError[] = [];
  collectMissingFunctions(parsed.node, (offset, detail) =>
    missing.push(new CesqlMissingFunctionError(detail, positionIn(source, offset))),
  );
  if (missing.length > 0) return { ok: false, errors: missing };
  return { ok: true, expression: expressionOf(source, parsed.node, limits) };
}

/**
 * Parses and evaluates `source` against `event` in one step, as the TCK does: an expression that does not
 * parse evaluates to `false` with its ParseError, and a call to a missing function is reported when (and if)
 * evaluation reaches it, per §3.5.
 */
export function evaluateCesql(source: string, event: CesqlEvent, options: CesqlOptions = {}): CesqlResult {
  const limits = resolveLimits(options);
  const parsed = parseCesql(source, limits);
  if (!parsed.ok) return { value: false, errors: [parsed.error] };
  return expressionOf(source, parsed.node, limits).evaluate(event);
}

function resolveLimits(options: CesqlOptions): CesqlLimits {
  return { ...CESQL_DEFAULT_LIMITS, ...options.limits };
}

function expressionOf(source: string, node: CesqlNode, limits: CesqlLimits): CesqlExpression {
  return {
    source,
    evaluate(event) {
      const { value, issues } = evaluateTree(node, event, limits.maxWork);
      const errors = issues.map(
        (issue) => new issue.errorClass(issue.detail, positionIn(source, issue.offset)),
      );
      return { value, errors };
    },
    matches(event) {
      const { value, issues } = evaluateTree(node, event, limits.maxWork);
      return value === true && issues.length === 0;
    },
  };
}

function collectMissingFunctions(node: CesqlNode, found: (offset: number, detail: string) => void): void {
  switch (node.kind) {
    case "literal":
    case "attribute":
    case "exists":
      return;
    case "not":
    case "negate":
    case "like":
      collectMissingFunctions(node.operand, found);
      return;
    case "binary":
      collectMissingFunctions(node.left, found);
      collectMissingFunctions(node.right, found);
      return;
    case "in":
      collectMissingFunctions(node.operand, found);
      for (const element of node.set) collectMissingFunctions(element, found);
      return;
    case "call":
      if (node.fn === undefined) found(node.offset, explainMissingFunction(node.name, node.args.length));
      for (const arg of node.args) collectMissingFunctions(arg, found);
      return;
  }
}
