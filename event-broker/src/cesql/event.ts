/**
 * How an expression sees a CloudEvent (§3.2): as its context attributes and extensions, by name.
 */

import { type CesqlValue, isInteger } from "./values.js";

/**
 * A CloudEvent as CESQL reads it: every context attribute and extension by name (`id`, `source`, `type`,
 * `specversion`, `time`, `myext`, …), with String, Integer or Boolean values; the data is not part of it.
 * Timestamps, URIs and binary values are given as strings (§3.1).
 */
export type CesqlEvent = Readonly<Record<string, CesqlValue>>;

/** The attributes every valid event has, for which EXISTS is always true (§3.4.4). */
export const REQUIRED_ATTRIBUTES: ReadonlySet<string> = new Set(["id", "source", "specversion", "type"]);

/**
 * The value of attribute `name`, or undefined when the event has none. Only the map's own properties count
 * (so `constructor` or `__proto__` never resolve to something inherited). A number that is not a 32-bit
 * integer is not a CESQL Integer and is read as a String (§3.2); anything else is treated as absent.
 */
export function readAttribute(event: CesqlEvent, name: string): CesqlValue | undefined {
  if (!Object.hasOwn(event, name)) return undefined;
  const value: unknown = event[name];
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return isInteger(value) ? value + 0 : String(value);
    default:
      return undefined;
  }
}
