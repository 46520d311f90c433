/**
 * The built-in functions (§3.5): string manipulation (§3.5.1), ABS (§3.5.2), and the casting and
 * type-checking functions INT, BOOL, STRING, IS_BOOL and IS_INT. The latter five left the spec's text before
 * v1 but the TCK still calls INT, BOOL and STRING; they are built in here with the v1 cast table's meaning,
 * and IS_BOOL/IS_INT with their draft meaning (a Boolean, or a String that reads as one; likewise Integer).
 *
 * Functions are found by name (case-insensitive) and number of arguments (§3.5: overloads differ in arity;
 * a variadic one takes at least its fixed parameters).
 */

import { readsAsBoolean, readsAsInteger, toBoolean, toInteger, toText } from "./cast.js";
import type { CesqlErrorClass } from "./errors.js";
import { CesqlCastError, CesqlFunctionEvaluationError, CesqlMathError } from "./errors.js";
import { absolute } from "./integer.js";
import { characterLength, characters, sliceCharacters, trimWhiteSpace } from "./strings.js";
import type { CesqlType, CesqlValue } from "./values.js";

/** A parameter's type; `Any` takes every value as it is (no implicit cast). */
export type ParameterType = CesqlType | "Any";

/** What a function may do besides returning: report an error, and account for its work. */
export interface FunctionCall {
  fail(errorClass: CesqlErrorClass, detail: string): void;
  spend(units: number): void;
}

/** A built-in function. Arguments reach `apply` already cast to the parameter types. */
export interface CesqlFunction {
  readonly name: string;
  readonly parameters: readonly ParameterType[];
  /** The type of the arguments after the fixed ones, for a variadic function. */
  readonly variadic?: ParameterType;
  readonly returns: CesqlType;
  apply(args: readonly CesqlValue[], call: FunctionCall): CesqlValue;
}

/** The parameter type of argument `index` of `fn`. */
export function parameterType(fn: CesqlFunction, index: number): ParameterType {
  return fn.parameters[index] ?? fn.variadic ?? "Any";
}

const str = (v: CesqlValue | undefined): string => (typeof v === "string" ? v : "");
const int = (v: CesqlValue | undefined): number => (typeof v === "number" ? v : 0);

const builtins: readonly CesqlFunction[] = [
  {
    name: "LENGTH",
    parameters: ["String"],
    returns: "Integer",
    apply([x], call) {
      call.spend(str(x).length);
      return characterLength(str(x));
    },
  },
  {
    name: "CONCAT",
    parameters: [],
    variadic: "String",
    returns: "String",
    apply(args, call) {
      call.spend(args.reduce<number>((sum, a) => sum + str(a).length, 0));
      return args.map(str).join("");
    },
  },
  {
    name: "CONCAT_WS",
    parameters: ["String"],
    variadic: "String",
    returns: "String",
    apply([delimiter, ...parts], call) {
      call.spend(parts.reduce<number>((sum, a) => sum + str(a).length + str(delimiter).length, 0));
      return parts.map(str).join(str(delimiter));
    },
  },
  {
    name: "LOWER",
    parameters: ["String"],
    returns: "String",
    apply([x], call) {
      call.spend(str(x).length);
      return str(x).toLowerCase();
    },
  },
  {
    name: "UPPER",
    parameters: ["String"],
    returns: "String",
    apply([x], call) {
      call.spend(str(x).length);
      return str(x).toUpperCase();
    },
  },
  {
    name: "TRIM",
    parameters: ["String"],
    returns: "String",
    apply([x], call) {
      call.spend(str(x).length);
      return trimWhiteSpace(str(x));
    },
  },
  {
    name: "LEFT",
    parameters: ["String", "Integer"],
    returns: "String",
    apply([x, y], call) {
      call.spend(str(x).length);
      if (int(y) < 0) {
        call.fail(CesqlFunctionEvaluationError, `LEFT: the length ${int(y)} is negative`);
        return str(x);
      }
      return sliceCharacters(str(x), 0, int(y));
    },
  },
  {
    name: "RIGHT",
    parameters: ["String", "Integer"],
    returns: "String",
    apply([x, y], call) {
      call.spend(str(x).length);
      if (int(y) < 0) {
        call.fail(CesqlFunctionEvaluationError, `RIGHT: the length ${int(y)} is negative`);
        return str(x);
      }
      const length = characterLength(str(x));
      return sliceCharacters(str(x), Math.max(0, length - int(y)));
    },
  },
  {
    name: "SUBSTRING",
    parameters: ["String", "Integer"],
    returns: "String",
    apply([x, pos], call) {
      return substring(str(x), int(pos), undefined, call);
    },
  },
  {
    name: "SUBSTRING",
    parameters: ["String", "Integer", "Integer"],
    returns: "String",
    apply([x, pos, len], call) {
      return substring(str(x), int(pos), int(len), call);
    },
  },
  {
    name: "ABS",
    parameters: ["Integer"],
    returns: "Integer",
    apply([x], call) {
      const result = absolute(int(x));
      if (result.problem !== undefined) call.fail(CesqlMathError, result.problem);
      return result.value;
    },
  },
  {
    name: "INT",
    parameters: ["Any"],
    returns: "Integer",
    apply([x], call) {
      return explicitCast(toInteger(x ?? 0), call);
    },
  },
  {
    name: "BOOL",
    parameters: ["Any"],
    returns: "Boolean",
    apply([x], call) {
      return explicitCast(toBoolean(x ?? false, "explicit"), call);
    },
  },
  {
    name: "STRING",
    parameters: ["Any"],
    returns: "String",
    apply([x]) {
      return toText(x ?? "");
    },
  },
  {
    name: "IS_BOOL",
    parameters: ["Any"],
    returns: "Boolean",
    apply([x]) {
      return typeof x === "boolean" || (typeof x === "string" && readsAsBoolean(x));
    },
  },
  {
    name: "IS_INT",
    parameters: ["Any"],
    returns: "Boolean",
    apply([x], call) {
      if (typeof x === "string") call.spend(x.length);
      return typeof x === "number" || (typeof x === "string" && readsAsInteger(x));
    },
  },
];

/** §3.5.1 SUBSTRING with 2 (`len` undefined) or 3 arguments; positions count characters from 1. */
function substring(x: string, pos: number, len: number | undefined, call: FunctionCall): string {
  call.spend(x.length);
  const chars = characters(x);
  const length = chars.length;
  if (pos > length || pos < -length) {
    call.fail(
      CesqlFunctionEvaluationError,
      `SUBSTRING: position ${pos} is outside a string of ${length} characters`,
    );
    return "";
  }
  if (len !== undefined && len < 0) {
    call.fail(CesqlFunctionEvaluationError, `SUBSTRING: the length ${len} is negative`);
    return "";
  }
  if (pos === 0) return "";
  const start = pos > 0 ? pos - 1 : length + pos;
  const end = len === undefined ? length : Math.min(length, start + len);
  return typeof chars === "string" ? chars.slice(start, end) : chars.slice(start, end).join("");
}

function explicitCast<T extends CesqlValue>(result: { value: T; problem?: string }, call: FunctionCall): T {
  if (result.problem !== undefined) call.fail(CesqlCastError, result.problem);
  return result.value;
}

const byName = new Map<string, CesqlFunction[]>();
for (const fn of builtins) {
  const overloads = byName.get(fn.name) ?? [];
  overloads.push(fn);
  byName.set(fn.name, overloads);
}

/** The function `name` (any case) that takes `arity` arguments, if there is one. */
export function resolveFunction(name: string, arity: number): CesqlFunction | undefined {
  const overloads = byName.get(name.toUpperCase());
  if (overloads === undefined) return undefined;
  const exact = overloads.find((fn) => fn.variadic === undefined && fn.parameters.length === arity);
  return exact ?? overloads.find((fn) => fn.variadic !== undefined && arity >= fn.parameters.length);
}

/** Why no function `name` takes `arity` arguments, for a MissingFunctionError. */
export function explainMissingFunction(name: string, arity: number): string {
  const overloads = byName.get(name.toUpperCase());
  const called = `${name}() with ${arity} argument${arity === 1 ? "" : "s"}`;
  if (overloads === undefined) {
    return `there is no function ${JSON.stringify(name)} (the functions are ${[...byName.keys()].sort().join(", ")})`;
  }
  const arities = overloads.map((fn) =>
    fn.variadic === undefined ? String(fn.parameters.length) : `${fn.parameters.length} or more`,
  );
  return `${called}: ${name.toUpperCase()} takes ${arities.join(" or ")} argument${arities.join() === "1" ? "" : "s"}`;
}
