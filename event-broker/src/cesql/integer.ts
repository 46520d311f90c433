/**
 * Integer arithmetic in 32 bits (§3.1, §3.4.2).
 *
 * The spec defines the Integer range and, for ABS (§3.5.2), what leaving it means: the nearest bound and a
 * MathError. The operators follow the same rule rather than wrapping around silently, so `2147483647 + 1` is
 * `2147483647` with a MathError, and a filter built on such a value never matches.
 */

import { INTEGER_MAX, INTEGER_MIN } from "./values.js";

/** An arithmetic result; `problem` says what went wrong, if anything (the value is then as the spec says). */
export interface IntegerResult {
  readonly value: number;
  readonly problem?: string;
}

/** The binary arithmetic operators. */
export type ArithmeticOperator = "+" | "-" | "*" | "/" | "%";

/** `left op right` in 32 bits. */
export function arithmetic(op: ArithmeticOperator, left: number, right: number): IntegerResult {
  switch (op) {
    case "+":
      return clamp(left + right, `${left} + ${right}`);
    case "-":
      return clamp(left - right, `${left} - ${right}`);
    case "*":
      // Exact whenever it is in range: |product| < 2^31 fits a double's 53 bits.
      return clamp(left * right, `${left} * ${right}`);
    case "/":
      if (right === 0) return { value: 0, problem: `division by zero (${left} / 0)` };
      return clamp(Math.trunc(left / right), `${left} / ${right}`);
    case "%":
      if (right === 0) return { value: 0, problem: `remainder of a division by zero (${left} % 0)` };
      // JavaScript's % takes the dividend's sign, as §3.4.2 asks; `+ 0` turns -0 into 0.
      return { value: (left % right) + 0 };
  }
}

/** `-value` in 32 bits. */
export function negate(value: number): IntegerResult {
  return clamp(-value + 0, `-(${value})`);
}

/** The absolute value in 32 bits (§3.5.2: ABS(-2147483648) is 2147483647 and a MathError). */
export function absolute(value: number): IntegerResult {
  return clamp(Math.abs(value), `ABS(${value})`);
}

function clamp(exact: number, what: string): IntegerResult {
  if (exact > INTEGER_MAX) {
    return { value: INTEGER_MAX, problem: `${what} is above the largest Integer, ${INTEGER_MAX}` };
  }
  if (exact < INTEGER_MIN) {
    return { value: INTEGER_MIN, problem: `${what} is below the smallest Integer, ${INTEGER_MIN}` };
  }
  return { value: exact + 0 };
}
