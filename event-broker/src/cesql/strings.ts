/**
 * Strings as CESQL counts them: in characters (Unicode code points, §3.1 "Sequence of Unicode characters"),
 * not UTF-16 code units.
 */

const surrogate = /[\uD800-\uDFFF]/;

/**
 * The characters of `text`, indexable: the string itself when every code unit is a whole character (the
 * common case, no copy), else an array of code points.
 */
export function characters(text: string): string | readonly string[] {
  return surrogate.test(text) ? Array.from(text) : text;
}

/** The number of characters in `text`. */
export function characterLength(text: string): number {
  return characters(text).length;
}

/** Characters `start` (inclusive) to `end` (exclusive) of `text`, both clamped to the string. */
export function sliceCharacters(text: string, start: number, end?: number): string {
  const chars = characters(text);
  if (typeof chars === "string") return chars.slice(start, end);
  return chars.slice(start, end).join("");
}

const whiteSpace = /^\p{White_Space}$/u;

/** `text` without leading and trailing Unicode White_Space characters (the TRIM of §3.5.1). */
export function trimWhiteSpace(text: string): string {
  const chars = characters(text);
  let start = 0;
  let end = chars.length;
  while (start < end && whiteSpace.test(chars[start] ?? "")) start++;
  while (end > start && whiteSpace.test(chars[end - 1] ?? "")) end--;
  return typeof chars === "string" ? chars.slice(start, end) : chars.slice(start, end).join("");
}
