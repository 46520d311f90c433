/**
 * The LIKE operator's patterns (§3.4.3): `%` is any run of characters, `_` one character, `\%` and `\_` the
 * characters themselves, `\\` one backslash; a backslash before anything else is an ordinary character.
 * Matching is case sensitive and counts characters (code points).
 *
 * Patterns are not turned into regular expressions: a hostile pattern such as `%a%a%a%…b` makes a
 * backtracking regex engine take time exponential in the number of `%`. Here a pattern is split at its `%`
 * into fixed-length segments; the first must match at the start, the last at the end, and each middle one is
 * placed at its leftmost match after the previous (which is enough: a later match never leaves more room for
 * the rest). That costs at most (text length × pattern length) character comparisons.
 */

import { characters } from "./strings.js";

/** One character of a segment: a literal character, or `undefined` for `_`. */
type PatternChar = string | undefined;

interface Segment {
  readonly chars: readonly PatternChar[];
  /** The segment as a plain string when it has no `_`, for the native string search. */
  readonly literal: string | undefined;
}

/** A compiled LIKE pattern. */
export interface LikePattern {
  readonly source: string;
  /** The pattern split at each unescaped `%`: one segment means no `%`. */
  readonly segments: readonly Segment[];
  /**
   * No `_` and no surrogate: then no segment can match half of a character, and the text is matched as it is,
   * without splitting it into characters first.
   */
  readonly plain: boolean;
}

/** Compiles a pattern (the string literal's value). Never fails: every string is a pattern. */
export function compileLikePattern(pattern: string): LikePattern {
  const segments: Segment[] = [];
  let current: PatternChar[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "\\") {
      const next = chars[i + 1];
      if (next === "%" || next === "_" || next === "\\") {
        current.push(next);
        i++;
      } else {
        current.push(ch);
      }
    } else if (ch === "%") {
      segments.push(toSegment(current));
      current = [];
    } else if (ch === "_") {
      current.push(undefined);
    } else if (ch !== undefined) {
      current.push(ch);
    }
  }
  segments.push(toSegment(current));
  const plain = segments.every((s) => s.literal !== undefined) && !/[\uD800-\uDFFF]/.test(pattern);
  return { source: pattern, segments, plain };
}

function toSegment(chars: PatternChar[]): Segment {
  const literal = chars.every((c) => c !== undefined) ? chars.join("") : undefined;
  return { chars, literal };
}

/**
 * Whether `text` matches `pattern`. `spend` is told the number of character comparisons about to be made, so
 * the caller can stop an evaluation that runs over its budget (by throwing).
 */
export function matchLike(pattern: LikePattern, text: string, spend: (units: number) => void): boolean {
  const t = pattern.plain ? text : characters(text);
  spend(t.length);
  const segments = pattern.segments;
  const first = segments[0];
  if (first === undefined) return t.length === 0;
  if (segments.length === 1) {
    return t.length === first.chars.length && matchAt(first, t, 0, spend);
  }
  const last = segments[segments.length - 1] as Segment;
  const end = t.length - last.chars.length;
  if (end < first.chars.length) return false;
  if (!matchAt(first, t, 0, spend) || !matchAt(last, t, end, spend)) return false;
  let position = first.chars.length;
  for (let s = 1; s < segments.length - 1; s++) {
    const segment = segments[s] as Segment;
    const found = findFrom(segment, t, position, end, spend);
    if (found < 0) return false;
    position = found + segment.chars.length;
  }
  return true;
}

/** Whether `segment` matches `t` at `at`. */
function matchAt(
  segment: Segment,
  t: string | readonly string[],
  at: number,
  spend: (units: number) => void,
): boolean {
  spend(segment.chars.length);
  if (segment.literal !== undefined && typeof t === "string") return t.startsWith(segment.literal, at);
  for (let i = 0; i < segment.chars.length; i++) {
    const want = segment.chars[i];
    if (want !== undefined && t[at + i] !== want) return false;
  }
  return true;
}

/** The first index in [from, limit - segment length] where `segment` matches, or -1. */
function findFrom(
  segment: Segment,
  t: string | readonly string[],
  from: number,
  limit: number,
  spend: (units: number) => void,
): number {
  const last = limit - segment.chars.length;
  if (segment.literal !== undefined && typeof t === "string") {
    spend(limit - from);
    const found = t.indexOf(segment.literal, from);
    return found >= 0 && found <= last ? found : -1;
  }
  for (let i = from; i <= last; i++) {
    if (matchAt(segment, t, i, spend)) return i;
  }
  return -1;
}
