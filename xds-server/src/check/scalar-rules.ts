import { isIP } from "node:net";
import { RE2JS } from "re2js";
import type { SetRules } from "./rule-values.js";

/**
 * The checks of protoc-gen-validate's scalar rules (`string`, `bytes`, the
 * numeric kinds, `bool`, `enum`), each returning the sentence a violation
 * reports, or undefined. They follow PGV's semantics: lengths of strings in
 * characters (code points) unless the rule says bytes, `pattern` as an RE2
 * search, numeric `gt`/`lt` pairs as a range (or, when reversed, its outside).
 */

type Number_ = number | bigint;

/** Numeric rules (`int32`, `uint64`, `double`, …) against a value. */
export function checkNumber(value: Number_, rules: SetRules): string | undefined {
  if (rules.get("ignore_empty") === true && isZero(value)) return undefined;
  if (rules.has("const") && compare(value, rules.get("const") as Number_) !== 0) {
    return `must equal ${rules.get("const")}`;
  }
  const list = (name: string) => (rules.get(name) as Number_[] | undefined) ?? [];
  if (rules.has("in") && !list("in").some((v) => compare(value, v) === 0)) {
    return `must be one of ${list("in").join(", ")}`;
  }
  if (list("not_in").some((v) => compare(value, v) === 0)) return `must not be ${value}`;
  return checkRange(value, rules, compare, (v) => String(v));
}

/**
 * PGV ranges: one bound each side at most; with both, lower < upper means
 * "inside", lower > upper means "outside".
 */
export function checkRange<T>(
  value: T,
  rules: SetRules,
  cmp: (a: T, b: T) => number,
  show: (v: T) => string,
): string | undefined {
  const lt = rules.get("lt") as T | undefined;
  const lte = rules.get("lte") as T | undefined;
  const gt = rules.get("gt") as T | undefined;
  const gte = rules.get("gte") as T | undefined;
  const upper =
    lt !== undefined
      ? { v: lt, inclusive: false }
      : lte !== undefined
        ? { v: lte, inclusive: true }
        : undefined;
  const lower =
    gt !== undefined
      ? { v: gt, inclusive: false }
      : gte !== undefined
        ? { v: gte, inclusive: true }
        : undefined;
  const belowUpper = (u: { v: T; inclusive: boolean }) =>
    u.inclusive ? cmp(value, u.v) <= 0 : cmp(value, u.v) < 0;
  const aboveLower = (l: { v: T; inclusive: boolean }) =>
    l.inclusive ? cmp(value, l.v) >= 0 : cmp(value, l.v) > 0;
  const upperText = (u: { v: T; inclusive: boolean }) =>
    `${u.inclusive ? "at most" : "less than"} ${show(u.v)}`;
  const lowerText = (l: { v: T; inclusive: boolean }) =>
    `${l.inclusive ? "at least" : "greater than"} ${show(l.v)}`;
  if (upper && lower) {
    if (cmp(lower.v, upper.v) < 0) {
      return aboveLower(lower) && belowUpper(upper)
        ? undefined
        : `must be ${lowerText(lower)} and ${upperText(upper)}`;
    }
    return aboveLower(lower) || belowUpper(upper)
      ? undefined
      : `must be ${upperText(upper)} or ${lowerText(lower)}`;
  }
  if (upper && !belowUpper(upper)) return `must be ${upperText(upper)}`;
  if (lower && !aboveLower(lower)) return `must be ${lowerText(lower)}`;
  return undefined;
}

function compare(a: Number_, b: Number_): number {
  if (typeof a === "bigint" || typeof b === "bigint") {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function isZero(value: Number_): boolean {
  return typeof value === "bigint" ? value === 0n : value === 0;
}

/** `bool` rules. */
export function checkBool(value: boolean, rules: SetRules): string | undefined {
  if (rules.has("const") && rules.get("const") !== value) return `must be ${rules.get("const")}`;
  return undefined;
}

/** `enum` rules; `defined` holds the numbers the enum declares. */
export function checkEnum(value: number, rules: SetRules, defined: ReadonlySet<number>): string | undefined {
  if (rules.has("const") && rules.get("const") !== value) return `must be ${rules.get("const")}`;
  if (rules.get("defined_only") === true && !defined.has(value)) return `${value} is not a value of the enum`;
  const list = (name: string) => (rules.get(name) as number[] | undefined) ?? [];
  if (rules.has("in") && !list("in").includes(value)) return `must be one of ${list("in").join(", ")}`;
  if (list("not_in").includes(value)) return `must not be ${value}`;
  return undefined;
}

/** `string` rules. */
export function checkString(value: string, rules: SetRules): string | undefined {
  if (rules.get("ignore_empty") === true && value === "") return undefined;
  const runes = () => [...value].length;
  const bytes = () => utf8Length(value);
  const num = (name: string) => Number(rules.get(name));
  if (rules.has("const") && value !== rules.get("const"))
    return `must equal ${JSON.stringify(rules.get("const"))}`;
  if (rules.has("len") && runes() !== num("len")) return `must be ${num("len")} characters long`;
  if (rules.has("min_len") && runes() < num("min_len")) {
    return `must be at least ${num("min_len")} character${num("min_len") === 1 ? "" : "s"} long`;
  }
  if (rules.has("max_len") && runes() > num("max_len"))
    return `must be at most ${num("max_len")} characters long`;
  if (rules.has("len_bytes") && bytes() !== num("len_bytes")) return `must be ${num("len_bytes")} bytes long`;
  if (rules.has("min_bytes") && bytes() < num("min_bytes"))
    return `must be at least ${num("min_bytes")} bytes long`;
  if (rules.has("max_bytes") && bytes() > num("max_bytes"))
    return `must be at most ${num("max_bytes")} bytes long`;
  if (rules.has("pattern") && !search(rules.get("pattern") as string, value)) {
    return `must match the pattern ${JSON.stringify(rules.get("pattern"))}`;
  }
  const text = (name: string) => rules.get(name) as string;
  if (rules.has("prefix") && !value.startsWith(text("prefix")))
    return `must start with ${JSON.stringify(text("prefix"))}`;
  if (rules.has("suffix") && !value.endsWith(text("suffix")))
    return `must end with ${JSON.stringify(text("suffix"))}`;
  if (rules.has("contains") && !value.includes(text("contains")))
    return `must contain ${JSON.stringify(text("contains"))}`;
  if (rules.has("not_contains") && value.includes(text("not_contains"))) {
    return `must not contain ${JSON.stringify(text("not_contains"))}`;
  }
  const list = (name: string) => (rules.get(name) as string[] | undefined) ?? [];
  if (rules.has("in") && !list("in").includes(value)) return `must be one of ${list("in").join(", ")}`;
  if (list("not_in").includes(value)) return `must not be ${JSON.stringify(value)}`;
  return checkWellKnownString(value, rules);
}

function checkWellKnownString(value: string, rules: SetRules): string | undefined {
  if (rules.get("email") === true && !isEmail(value)) return "must be an email address";
  if (rules.get("hostname") === true && !isHostname(value)) return "must be a host name";
  if (rules.get("ip") === true && isIP(value) === 0) return "must be an IP address";
  if (rules.get("ipv4") === true && isIP(value) !== 4) return "must be an IPv4 address";
  if (rules.get("ipv6") === true && isIP(value) !== 6) return "must be an IPv6 address";
  if (rules.get("address") === true && isIP(value) === 0 && !isHostname(value)) {
    return "must be a host name or IP address";
  }
  if (rules.get("uri") === true && !isAbsoluteUri(value)) return "must be an absolute URI";
  if (rules.get("uri_ref") === true && hasChar(value, (c) => c <= 0x20 || c === 0x7f))
    return "must be a URI reference";
  if (rules.get("uuid") === true && !uuid.test(value)) return "must be a UUID";
  if (rules.has("well_known_regex")) {
    // `strict` defaults to true; Envoy's protos set it to false throughout.
    const strict = rules.get("strict") !== false;
    const kind = rules.get("well_known_regex") as number;
    const valid = strict
      ? kind === headerNameKind
        ? strictHeaderName.test(value)
        : isStrictHeaderValue(value)
      : isLooseHeader(value);
    if (kind !== 0 && !valid) {
      return kind === headerNameKind
        ? "must be a valid HTTP header name"
        : "must be a valid HTTP header value (no NUL, CR or LF)";
    }
  }
  return undefined;
}

// validate.KnownRegex: HTTP_HEADER_NAME = 1, HTTP_HEADER_VALUE = 2.
const headerNameKind = 1;
// PGV's own patterns (the "+-." range in the name class is theirs, kept as is).
const strictHeaderName = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
/** `^[^\u0000-\u0008\u000A-\u001F\u007F]*$`: no control characters but tab. */
const isStrictHeaderValue = (v: string) => !hasChar(v, (c) => (c <= 0x1f && c !== 0x09) || c === 0x7f);
/** `^[^\u0000\u000A\u000D]*$`: no NUL, LF or CR. */
const isLooseHeader = (v: string) => !hasChar(v, (c) => c === 0 || c === 0x0a || c === 0x0d);

function hasChar(value: string, test: (code: number) => boolean): boolean {
  for (let i = 0; i < value.length; i++) if (test(value.charCodeAt(i))) return true;
  return false;
}
const uuid = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** `bytes` rules. */
export function checkBytes(value: Uint8Array, rules: SetRules): string | undefined {
  if (rules.get("ignore_empty") === true && value.length === 0) return undefined;
  const num = (name: string) => Number(rules.get(name));
  const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (rules.has("const") && !same(value, rules.get("const") as Uint8Array)) return "must equal the constant";
  if (rules.has("len") && value.length !== num("len")) return `must be ${num("len")} bytes long`;
  if (rules.has("min_len") && value.length < num("min_len"))
    return `must be at least ${num("min_len")} bytes long`;
  if (rules.has("max_len") && value.length > num("max_len"))
    return `must be at most ${num("max_len")} bytes long`;
  const latin1 = () => String.fromCharCode(...value);
  if (rules.has("pattern") && !search(rules.get("pattern") as string, latin1()))
    return "must match its pattern";
  if (rules.get("ip") === true && value.length !== 4 && value.length !== 16)
    return "must be an IP address (4 or 16 bytes)";
  if (rules.get("ipv4") === true && value.length !== 4) return "must be an IPv4 address (4 bytes)";
  if (rules.get("ipv6") === true && value.length !== 16) return "must be an IPv6 address (16 bytes)";
  return undefined;
}

const patterns = new Map<string, RE2JS | Error>();

/** PGV `pattern`: an RE2 search (not anchored unless the pattern is). */
function search(pattern: string, value: string): boolean {
  let compiled = patterns.get(pattern);
  if (!compiled) {
    try {
      compiled = RE2JS.compile(pattern);
    } catch (err) {
      compiled = err as Error;
    }
    patterns.set(pattern, compiled);
  }
  // A rule this engine cannot compile is not held against the value.
  return compiled instanceof Error ? true : compiled.matcher(value).find();
}

function utf8Length(value: string): number {
  let n = 0;
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

function isHostname(value: string): boolean {
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  return name.split(".").every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

function isEmail(value: string): boolean {
  const at = value.lastIndexOf("@");
  return at > 0 && at <= 64 && !/\s/.test(value.slice(0, at)) && isHostname(value.slice(at + 1));
}

function isAbsoluteUri(value: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(value)) return false;
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}
