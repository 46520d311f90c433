/**
 * CESQL's values (§3.1): Boolean, Integer (32-bit signed) and String, held as JavaScript booleans, numbers
 * (always integers in the 32-bit range) and strings.
 */

/** A CESQL value. A `number` is always an integer in [-2147483648, 2147483647]. */
export type CesqlValue = boolean | number | string;

/** The three primitive types of CESQL (§3.1). */
export type CesqlType = "Boolean" | "Integer" | "String";

/** The smallest and largest Integer. */
export const INTEGER_MIN = -2147483648;
export const INTEGER_MAX = 2147483647;

/** The type of a value. */
export function typeOf(value: CesqlValue): CesqlType {
  switch (typeof value) {
    case "boolean":
      return "Boolean";
    case "number":
      return "Integer";
    default:
      return "String";
  }
}

/** The zero value of a type (§3.1), which an operator or function returns when it has no answer. */
export function zeroValue(type: CesqlType): CesqlValue {
  switch (type) {
    case "Boolean":
      return false;
    case "Integer":
      return 0;
    case "String":
      return "";
  }
}

/** Whether a JavaScript number is a CESQL Integer. */
export function isInteger(value: number): boolean {
  return Number.isInteger(value) && value >= INTEGER_MIN && value <= INTEGER_MAX;
}

const shownLength = 40;

/**
 * A value as an error message shows it: strings quoted and cut short, since they may come from an event
 * and be long or hostile.
 */
export function showValue(value: CesqlValue): string {
  if (typeof value !== "string") return String(value);
  const cut = value.length > shownLength ? `${value.slice(0, shownLength)}…` : value;
  return JSON.stringify(cut);
}
