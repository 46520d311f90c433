/**
 * Which entries of an Endpoint's `spec.paths` can be served, and why not: the
 * one check the control plane refuses bad paths with at create and the
 * xds-server applies again to what it reads from the store. What a path
 * means (exact, prefix, regex; under `/<org>`) is `endpoint-routes.ts`.
 *
 * Kept apart from the package's index (`@dispatch/proto/endpoint-paths`):
 * it loads an RE2 engine, which clients that never check paths need not load.
 */
import { RE2JS } from "re2js";
import { type PathMatch, parsePath, underPrefix } from "./endpoint-routes.js";

/** The longest entry of `spec.paths`, in characters. */
export const maxPathLength = 1024;

/**
 * The largest RE2 program of a path regex (about one unit per character or
 * repeat): Envoy's default limit (`re2.max_program_size.error_level`), past
 * which every proxy would refuse the configuration.
 */
export const maxRegexProgramSize = 100;

/**
 * RFC 3986's path characters, without "%": proxies match the percent-decoded,
 * normalized path, so an escape in a route would never match what they compare.
 */
const pathCharacters = /^\/[A-Za-z0-9\-._~!$&'()+,;=:@/]*$/;

/** A path as it is served, or why it cannot be. */
export type CheckedPath = { ok: true; match: PathMatch } | { ok: false; message: string };

/**
 * Checks one entry of `spec.paths` and gives the path as served: at the root,
 * or under `orgPrefix` (another org's endpoint without hosts: `/acme`; see
 * `orgPrefixOf`). A message says what is wrong, in words that follow the
 * field's name, and how to fix it.
 *
 * @example
 * checkPath("/hello/*", "/acme"); // { ok: true, match: { kind: "prefix", prefix: "/acme/hello/" } }
 * checkPath("/a b", undefined);   // { ok: false, message: '"/a b" has characters a route cannot match …' }
 */
export function checkPath(raw: string, orgPrefix: string | undefined): CheckedPath {
  if (raw.length > maxPathLength) {
    return { ok: false, message: `is ${raw.length} characters; the limit is ${maxPathLength}` };
  }
  const parsed = parsePath(raw);
  if (parsed.kind === "regex") return checkRegexPath(parsed.regex, orgPrefix);
  const plain = parsed.kind === "exact" ? parsed.path : parsed.prefix;
  const problem = !plain.startsWith("/")
    ? `"${raw}" must start with "/" (or "~" for a regular expression, e.g. "~^/items/[0-9]+$")`
    : plain.includes("*")
      ? `"${raw}": "*" is only allowed at the end, as "/prefix/*"`
      : !pathCharacters.test(plain)
        ? `"${raw}" has characters a route cannot match (spaces, "?", "#", "%": write the decoded character, or use a "~" regex)`
        : !isNormalized(plain)
          ? `"${raw}" is not a normalized path: "." and ".." segments and "//" never reach a route`
          : undefined;
  if (problem) return { ok: false, message: problem };
  return { ok: true, match: orgPrefix === undefined ? parsed : underPrefix(orgPrefix, parsed) };
}

/**
 * Why Envoy would refuse `regex` (undefined if it would not): RE2 syntax (no
 * lookaround or backreferences) and the program-size limit.
 */
export function regexProblem(regex: string): string | undefined {
  let re: RE2JS;
  try {
    re = RE2JS.compile(regex);
  } catch (err) {
    const why = (err as Error).message.replace(/^error parsing regexp: /, "");
    return `cannot be used: ${why} (paths match with RE2: no backreferences or lookaround)`;
  }
  const size = re.programSize();
  if (size > maxRegexProgramSize) {
    return `is too large: its RE2 program has ${size} instructions; the limit is ${maxRegexProgramSize} (use a simpler pattern, e.g. "+" instead of a long "{n,m}")`;
  }
  return undefined;
}

function checkRegexPath(regex: string, orgPrefix: string | undefined): CheckedPath {
  if (regex === "") {
    return { ok: false, message: 'has "~" but no regular expression after it (e.g. "~^/items/[0-9]+$")' };
  }
  const shown = `"~${regex.length > 80 ? `${regex.slice(0, 80)}…` : regex}"`;
  const own = regexProblem(regex);
  if (own) return { ok: false, message: `${shown} ${own}` };
  if (orgPrefix === undefined) return { ok: true, match: { kind: "regex", regex } };
  // Served under /<org>: the proxy matches the whole path, so anchors may only
  // begin and end the expression; anywhere else the prefix in front would
  // stop them from ever matching.
  let body = regex;
  if (body.startsWith("^")) body = body.slice(1);
  if (body.endsWith("$") && !isEscaped(body, body.length - 1)) body = body.slice(0, -1);
  if (hasAnchor(body)) {
    return {
      ok: false,
      message: `${shown}: another org's regex is matched after "${orgPrefix}", so "^" and "$" may only begin and end it (give the endpoint hosts to serve it at the root)`,
    };
  }
  const match = underPrefix(orgPrefix, { kind: "regex", regex });
  const composed = match.kind === "regex" ? regexProblem(match.regex) : undefined;
  if (composed) return { ok: false, message: `${shown} under "${orgPrefix}" ${composed}` };
  return { ok: true, match };
}

/** Whether proxies, which normalize paths before matching, could ever match this one. */
function isNormalized(path: string): boolean {
  const segments = path.split("/").slice(1);
  return !segments.some((s, i) => s === "." || s === ".." || (s === "" && i < segments.length - 1));
}

/** Whether the expression holds a `^` or `$` anchor: not escaped, not inside a character class. */
function hasAnchor(regex: string): boolean {
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
    if (c === "^" || c === "$") return true;
  }
  return false;
}

function isEscaped(s: string, index: number): boolean {
  let backslashes = 0;
  for (let i = index - 1; i >= 0 && s[i] === "\\"; i--) backslashes++;
  return backslashes % 2 === 1;
}
