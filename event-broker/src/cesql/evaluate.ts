/**
 * Evaluates a CESQL tree against an event (§3).
 *
 * CESQL is total: every node yields a value, and errors are collected beside it (§3.3). The error handling
 * is the "fail fast" mode the spec recommends for filters (§1.2, §4.1), applied node by node:
 *
 * - A node whose operand produced an error does not compute: it returns the zero value of its own type
 *   (§3.3), and the error travels up. So `missing * 5` is `0`, `1 / missing` is `0` without a MathError
 *   (§3.2), and `true AND (1 != 1 / 0)` is `false`.
 * - A node that raises an error itself returns the value the spec gives for that error: `ABS(-2147483648)`
 *   is `2147483647`, `LEFT('abc', -2)` is `'abc'`, and an implicit cast that fails goes on with the cast's
 *   fallback value (`NOT 10` is `NOT false`, so `true`, with a CastError).
 * - A missing attribute yields no value of its own; whatever reads it returns its zero value, and the
 *   expression `missing` alone is `false` (§3.2: Boolean when the type cannot be told).
 *
 * `AND` and `OR` short-circuit (§3.4.2), and `IN` stops at the first element equal to its operand, as the
 * `OR` of equalities it stands for would.
 */

import type { BinaryOperator, CesqlNode } from "./ast.js";
import { castTo, toText } from "./cast.js";
import {
  CesqlCastError,
  type CesqlErrorClass,
  CesqlGenericError,
  CesqlMathError,
  CesqlMissingAttributeError,
  CesqlMissingFunctionError,
} from "./errors.js";
import { type CesqlEvent, REQUIRED_ATTRIBUTES, readAttribute } from "./event.js";
import { explainMissingFunction, parameterType } from "./functions.js";
import { type ArithmeticOperator, arithmetic, negate } from "./integer.js";
import { matchLike } from "./like.js";
import { type CesqlType, type CesqlValue, typeOf, zeroValue } from "./values.js";

/** An error that arose during evaluation, before it becomes a `CesqlError` with a position. */
export interface Issue {
  readonly errorClass: CesqlErrorClass;
  readonly offset: number;
  readonly detail: string;
}

/** The outcome of one evaluation. */
export interface Evaluated {
  readonly value: CesqlValue;
  readonly issues: readonly Issue[];
}

interface Evaluation {
  readonly event: CesqlEvent;
  readonly issues: Issue[];
  readonly maxWork: number;
  work: number;
}

/** Thrown (inside this module only) when an evaluation spends more than its work budget. */
class WorkExhausted extends Error {
  constructor(readonly offset: number) {
    super("work budget exhausted");
  }
}

/** Evaluates `node` against `event`, spending at most `maxWork` units (see `CesqlLimits.maxWork`). */
export function evaluateTree(node: CesqlNode, event: CesqlEvent, maxWork: number): Evaluated {
  const evaluation: Evaluation = { event, issues: [], maxWork, work: 0 };
  try {
    return { value: evaluate(node, evaluation), issues: evaluation.issues };
  } catch (error) {
    if (!(error instanceof WorkExhausted)) throw error;
    evaluation.issues.push({
      errorClass: CesqlGenericError,
      offset: error.offset,
      detail: `evaluating the expression took more than its budget of ${maxWork} work units; simplify it`,
    });
    return { value: zeroValue(resultType(node)), issues: evaluation.issues };
  }
}

/** The type a node yields, as far as the tree tells (Boolean when it cannot, as §3.2 says to assume). */
function resultType(node: CesqlNode): CesqlType {
  switch (node.kind) {
    case "literal":
      return typeOf(node.value);
    case "negate":
      return "Integer";
    case "binary":
      return isArithmetic(node.operator) ? "Integer" : "Boolean";
    case "call":
      return node.fn?.returns ?? "Boolean";
    default:
      return "Boolean";
  }
}

function evaluate(node: CesqlNode, ev: Evaluation): CesqlValue {
  switch (node.kind) {
    case "literal":
      return node.value;
    case "attribute": {
      const value = readAttribute(ev.event, node.name);
      if (value !== undefined) return value;
      report(ev, CesqlMissingAttributeError, node.offset, `the event has no attribute "${node.name}"`);
      return false;
    }
    case "exists":
      return REQUIRED_ATTRIBUTES.has(node.name) || readAttribute(ev.event, node.name) !== undefined;
    case "not": {
      const mark = ev.issues.length;
      const operand = evaluate(node.operand, ev);
      if (ev.issues.length !== mark) return false;
      return !(cast(ev, operand, "Boolean", node.offset, "NOT") as boolean);
    }
    case "negate": {
      const mark = ev.issues.length;
      const operand = evaluate(node.operand, ev);
      if (ev.issues.length !== mark) return 0;
      const result = negate(cast(ev, operand, "Integer", node.offset, 'unary "-"') as number);
      if (result.problem !== undefined) report(ev, CesqlMathError, node.offset, result.problem);
      return result.value;
    }
    case "binary":
      return evaluateBinary(node, ev);
    case "like": {
      const mark = ev.issues.length;
      const operand = evaluate(node.operand, ev);
      if (ev.issues.length !== mark) return false;
      const matched = matchLike(node.pattern, toText(operand), (units) => spend(ev, units, node.offset));
      return node.negated ? !matched : matched;
    }
    case "in": {
      const mark = ev.issues.length;
      const operand = evaluate(node.operand, ev);
      if (ev.issues.length !== mark) return false;
      // §3.4.5: the elements are cast to the operand's type.
      const target = typeOf(operand);
      for (const element of node.set) {
        const elementMark = ev.issues.length;
        const value = evaluate(element, ev);
        if (ev.issues.length !== elementMark) return false;
        if (equal(ev, operand, cast(ev, value, target, element.offset, "IN"), node.offset))
          return !node.negated;
      }
      return node.negated;
    }
    case "call": {
      const fn = node.fn;
      if (fn === undefined) {
        report(
          ev,
          CesqlMissingFunctionError,
          node.offset,
          explainMissingFunction(node.name, node.args.length),
        );
        return false;
      }
      const args: CesqlValue[] = [];
      for (const arg of node.args) {
        const mark = ev.issues.length;
        const value = evaluate(arg, ev);
        if (ev.issues.length !== mark) return zeroValue(fn.returns);
        args.push(value);
      }
      const castArgs = args.map((value, i) => {
        const type = parameterType(fn, i);
        return type === "Any"
          ? value
          : cast(ev, value, type, node.args[i]?.offset ?? node.offset, `${fn.name}()`);
      });
      return fn.apply(castArgs, {
        fail: (errorClass, detail) => report(ev, errorClass, node.offset, detail),
        spend: (units) => spend(ev, units, node.offset),
      });
    }
  }
}

type BinaryNode = Extract<CesqlNode, { kind: "binary" }>;

/** How a cast error names each operator: keywords as they are, symbols quoted. */
const operatorLabels: Readonly<Record<BinaryOperator, string>> = {
  AND: "AND",
  OR: "OR",
  XOR: "XOR",
  "=": '"="',
  "!=": '"!="',
  "<": '"<"',
  "<=": '"<="',
  ">": '">"',
  ">=": '">="',
  "+": '"+"',
  "-": '"-"',
  "*": '"*"',
  "/": '"/"',
  "%": '"%"',
};

function evaluateBinary(node: BinaryNode, ev: Evaluation): CesqlValue {
  const op = node.operator;
  const by = operatorLabels[op];
  const resultType: CesqlType = isArithmetic(op) ? "Integer" : "Boolean";
  const zero = zeroValue(resultType);

  const leftMark = ev.issues.length;
  const left = evaluate(node.left, ev);
  if (ev.issues.length !== leftMark) return zero;

  if (op === "AND" || op === "OR") {
    const l = cast(ev, left, "Boolean", node.offset, by) as boolean;
    if (op === "AND" ? !l : l) return l;
    const rightMark = ev.issues.length;
    const right = evaluate(node.right, ev);
    if (ev.issues.length !== rightMark) return zero;
    return cast(ev, right, "Boolean", node.offset, by) as boolean;
  }

  const rightMark = ev.issues.length;
  const right = evaluate(node.right, ev);
  if (ev.issues.length !== rightMark) return zero;

  switch (op) {
    case "XOR":
      return (
        (cast(ev, left, "Boolean", node.offset, by) as boolean) !==
        cast(ev, right, "Boolean", node.offset, by)
      );
    case "=":
    case "!=": {
      // §3.7: "=" is defined for each type; the right operand's type picks the definition, and the left
      // operand is cast to it.
      const same = equal(ev, cast(ev, left, typeOf(right), node.offset, by), right, node.offset);
      return op === "=" ? same : !same;
    }
    case "<":
    case "<=":
    case ">":
    case ">=": {
      const l = cast(ev, left, "Integer", node.offset, by) as number;
      const r = cast(ev, right, "Integer", node.offset, by) as number;
      if (op === "<") return l < r;
      if (op === "<=") return l <= r;
      if (op === ">") return l > r;
      return l >= r;
    }
    default: {
      const l = cast(ev, left, "Integer", node.offset, by) as number;
      const r = cast(ev, right, "Integer", node.offset, by) as number;
      const result = arithmetic(op, l, r);
      if (result.problem !== undefined) report(ev, CesqlMathError, node.offset, result.problem);
      return result.value;
    }
  }
}

function isArithmetic(op: BinaryOperator): op is ArithmeticOperator {
  return op === "+" || op === "-" || op === "*" || op === "/" || op === "%";
}

/** Equality of two values of one type (strings compared exactly, case included). */
function equal(ev: Evaluation, left: CesqlValue, right: CesqlValue, offset: number): boolean {
  if (typeof left === "string" && typeof right === "string")
    spend(ev, Math.min(left.length, right.length), offset);
  return left === right;
}

/** `value` implicitly cast to `type`; a failed cast is reported and yields the cast's fallback value. */
function cast(ev: Evaluation, value: CesqlValue, type: CesqlType, offset: number, by: string): CesqlValue {
  if (typeOf(value) === type) return value;
  if (typeof value === "string" && type === "Integer") spend(ev, value.length, offset);
  const result = castTo(value, type, "implicit");
  if (result.problem !== undefined) {
    report(
      ev,
      CesqlCastError,
      offset,
      `${by} needs ${type === "Integer" ? "an" : "a"} ${type}: ${result.problem}`,
    );
  }
  return result.value;
}

function report(ev: Evaluation, errorClass: CesqlErrorClass, offset: number, detail: string): void {
  ev.issues.push({ errorClass, offset, detail });
}

function spend(ev: Evaluation, units: number, offset: number): void {
  ev.work += units;
  if (ev.work > ev.maxWork) throw new WorkExhausted(offset);
}
