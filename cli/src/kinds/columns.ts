import { formatAge } from "../output/time.js";
import type { Column } from "./kind.js";
import { metaOf, phaseName, statusOf } from "./kind.js";

/** The NAME column of kinds with meta. */
export const nameColumn: Column = { header: "NAME", value: (o) => metaOf(o)?.name ?? "" };

/** The STATUS column: the phase. */
export const statusColumn: Column = { header: "STATUS", value: (o) => phaseName(statusOf(o)?.phase) };

/** The AGE column: since `meta.created`. */
export const ageColumn: Column = { header: "AGE", value: (o, now) => formatAge(metaOf(o)?.created, now) };

/** The first line of `text`, cut to `max` characters with an ellipsis. */
export function shorten(text: string, max: number): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** Values joined with commas, or `empty` when there are none. */
export function listCell(values: readonly string[], empty = "-"): string {
  return values.length > 0 ? values.join(",") : empty;
}
