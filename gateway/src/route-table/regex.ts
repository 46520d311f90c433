import type { RegexMatcher } from "@dispatch/proto/envoy";
import { RE2JS, RE2JSException } from "re2js";
import { ConfigError } from "./config-error.js";

/**
 * The largest RE2 program a pushed regex may compile to. Envoy refuses a
 * regex whose program is larger than 100 by default (runtime key
 * `re2.max_program_size.error_level`); the gateway keeps the same bound so
 * that what Envoy would reject is rejected here too, and no route can make
 * matching expensive.
 */
export const defaultMaxRegexProgramSize = 100;

/** A compiled RE2 expression (re2js: linear time, no backreferences or lookaround). */
export interface Regex {
  readonly source: string;
  /** Whether the whole input matches (Envoy's `safe_regex` semantics). */
  fullMatch(input: string): boolean;
  /**
   * Every match replaced by `substitution`, in which `\0`…`\9` name capture
   * groups and `\\` is a backslash (RE2's rewrite syntax, as in Envoy's
   * `RegexMatchAndSubstitute`).
   */
  replaceAll(input: string, substitution: string): string;
}

/** Compiles a `RegexMatcher` (the `google_re2` engine, Envoy's only one). */
export function compileRegex(matcher: RegexMatcher | undefined, maxProgramSize: number): Regex {
  if (matcher === undefined) throw new ConfigError("", "a regex matcher is required here");
  return compilePattern(matcher.regex, maxProgramSize);
}

/** Compiles an RE2 pattern, refusing what RE2 cannot run or what is too large. */
export function compilePattern(pattern: string, maxProgramSize: number): Regex {
  if (pattern === "") throw new ConfigError("regex", "the regex is empty");
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (error) {
    if (error instanceof RE2JSException) {
      throw new ConfigError(
        "regex",
        `${JSON.stringify(pattern)} is not a valid RE2 regex: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  const size = re.programSize();
  if (size > maxProgramSize) {
    throw new ConfigError(
      "regex",
      `${JSON.stringify(pattern)}: its RE2 program size ${size} is larger than the max allowed (${maxProgramSize})`,
    );
  }
  return {
    source: pattern,
    fullMatch: (input) => re.matches(input),
    replaceAll: (input, substitution) => replaceAll(re, input, substitution),
  };
}

function replaceAll(re: RE2JS, input: string, substitution: string): string {
  const matcher = re.matcher(input);
  let out = "";
  let last = 0;
  let from = 0;
  while (from <= input.length && matcher.find(from)) {
    const start = matcher.start();
    const end = matcher.end();
    out += input.slice(last, start) + expand(substitution, (n) => matcher.group(n) ?? "");
    last = end;
    // An empty match must not match at the same place again.
    from = end === start ? end + 1 : end;
  }
  return out + input.slice(last);
}

function expand(substitution: string, group: (n: number) => string): string {
  let out = "";
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i];
    const next = substitution[i + 1];
    if (c === "\\" && next !== undefined && next >= "0" && next <= "9") {
      out += group(Number(next));
      i++;
    } else if (c === "\\" && next === "\\") {
      out += "\\";
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

/** Whether a substitution names only groups the regex has (Envoy checks this when loading). */
export function checkSubstitution(pattern: string, substitution: string): void {
  const groups = RE2JS.compile(pattern).groupCount();
  expand(substitution, (n) => {
    if (n > groups) {
      throw new ConfigError(
        "substitution",
        `${JSON.stringify(substitution)} names capture group ${n} but ${JSON.stringify(pattern)} has ${groups}`,
      );
    }
    return "";
  });
}
