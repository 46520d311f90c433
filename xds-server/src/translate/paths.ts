import { RE2JS } from "re2js";
import type { PathMatchIR } from "../ir/ir.js";

/** The longest path or regex an endpoint may give, in characters. */
export const maxPathLength = 1024;

/**
 * Envoy refuses a regex whose compiled RE2 program is larger than this (its
 * `re2.max_program_size.error_level` runtime default), so such a regex would be
 * NACKed by every proxy.
 */
export const maxRegexProgramSize = 100;

/** A path of `spec.paths`, parsed: what to match, or why it cannot be served. */
export type ParsedPath = { ok: true; match: PathMatchIR } | { ok: false; message: string };

// RFC 3986 pchar and "/", without "?" and "#" (never part of a path) and without
// "%" (Envoy matches the normalized, percent-decoded path; a literal escape would
// never match what the proxy compares).
const pathChars = /^[A-Za-z0-9\-._~!$&'()+,;=:@/]*$/;

/**
 * Parses one entry of `spec.paths`: `/exact`, `/prefix/*` (every path under
 * `/prefix/`) or `~regex` (RE2, matched against the whole path), as
 * `@dispatch/proto`'s endpoint routing rules read them. With
 * `orgPrefix` (another org's endpoint without hosts) the path is served under it:
 * `/hello` becomes `/acme/hello`, and a regex `^/items/[0-9]+$` matches
 * `/acme/items/7`.
 */
export function parsePath(spec: string, orgPrefix: string | undefined): ParsedPath {
  if (spec.length > maxPathLength) {
    return { ok: false, message: `is longer than ${maxPathLength} characters` };
  }
  if (spec.startsWith("~")) return parseRegexPath(spec.slice(1), orgPrefix);
  if (!spec.startsWith("/")) {
    return { ok: false, message: `"${spec}" must start with "/" (or "~" for a regular expression)` };
  }
  let path = spec;
  let prefix = false;
  if (path.endsWith("/*")) {
    prefix = true;
    path = path.slice(0, -2);
  }
  if (!pathChars.test(path)) {
    return {
      ok: false,
      message: `"${spec}" has characters a path cannot match (spaces, "?", "#", "%", or "*" anywhere but a final "/*")`,
    };
  }
  // The listener normalizes paths (RFC 3986 dot segments, merged slashes) before
  // matching, so a path that is not normal would never match anything.
  const segments = path.split("/").slice(1);
  if (segments.some((s, i) => s === "." || s === ".." || (s === "" && i < segments.length - 1))) {
    return {
      ok: false,
      message: `"${spec}" is not a normalized path ("." and ".." segments and "//" never reach a route)`,
    };
  }
  const base = orgPrefix ?? "";
  if (prefix && path.endsWith("/")) {
    return { ok: false, message: `"${spec}": write a prefix as "/path/*", with one "/" before the "*"` };
  }
  if (prefix) return { ok: true, match: { kind: "prefix", prefix: `${base}${path}/` } };
  return { ok: true, match: { kind: "exact", path: `${base}${path}` } };
}

function parseRegexPath(regex: string, orgPrefix: string | undefined): ParsedPath {
  if (regex === "") return { ok: false, message: `"~" needs a regular expression after it` };
  const own = checkRe2(regex);
  if (own) return { ok: false, message: `"~${regex}" ${own}` };
  if (orgPrefix === undefined) return { ok: true, match: { kind: "regex", regex } };

  // Envoy matches the whole path, so the endpoint's anchors are redundant at its
  // ends; anywhere else they would stop matching once the prefix is in front.
  let body = regex;
  if (body.startsWith("^")) body = body.slice(1);
  if (body.endsWith("$") && !isEscaped(body, body.length - 1)) body = body.slice(0, -1);
  if (anchorPositions(body).length > 0) {
    return {
      ok: false,
      message:
        `"~${regex}": another org's regex is matched after "${orgPrefix}", so "^" and "$" may only ` +
        "begin and end it (give hosts to serve it at the root)",
    };
  }
  const composed = `${orgPrefix}(?:${body})`;
  const problem = checkRe2(composed);
  if (problem) return { ok: false, message: `"~${regex}" under "${orgPrefix}" ${problem}` };
  return { ok: true, match: { kind: "regex", regex: composed } };
}

/**
 * Why Envoy would refuse `regex` (undefined if it would not): RE2 syntax (no
 * lookaround or backreferences) and the program-size limit.
 */
export function checkRe2(regex: string): string | undefined {
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(regex);
  } catch (err) {
    return `is not a regular expression RE2 accepts: ${(err as Error).message}`;
  }
  const size = programSize(compiled);
  if (size !== undefined && size > maxRegexProgramSize) {
    return (
      `is too complex: its RE2 program has about ${size} instructions and Envoy accepts at most ` +
      `${maxRegexProgramSize} (use a simpler pattern, e.g. "+" instead of a long "{n,m}")`
    );
  }
  return undefined;
}

// re2js does not export the program size; it is read where the library keeps
// it, and the check is skipped if a later version moves it.
function programSize(compiled: RE2JS): number | undefined {
  const prog = (compiled as unknown as { re2Input?: { prog?: { numInst?: () => number } } }).re2Input?.prog;
  return typeof prog?.numInst === "function" ? prog.numInst() : undefined;
}

/** Positions of `^` and `$` that are anchors: not escaped, not inside a character class. */
function anchorPositions(regex: string): number[] {
  const out: number[] = [];
  let inClass = false;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      // A "]" first in the class (after an optional "^") is a literal.
      if (regex[i + 1] === "^") i++;
      if (regex[i + 1] === "]") i++;
      continue;
    }
    if (c === "^" || c === "$") out.push(i);
  }
  return out;
}

function isEscaped(s: string, index: number): boolean {
  let backslashes = 0;
  for (let i = index - 1; i >= 0 && s[i] === "\\"; i--) backslashes++;
  return backslashes % 2 === 1;
}
