import type { StringMatcher } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import { compileRegex } from "./regex.js";

/** A compiled `envoy.type.matcher.v3.StringMatcher`. */
export type StringMatch = (value: string) => boolean;

/**
 * Compiles a StringMatcher: `exact`, `prefix`, `suffix`, `contains` (each with
 * `ignore_case`) and `safe_regex` (a full match). `custom` matchers are
 * extensions the gateway does not have.
 */
export function compileStringMatcher(matcher: StringMatcher, maxProgramSize: number): StringMatch {
  const pattern = matcher.matchPattern;
  const fold = matcher.ignoreCase ? (s: string) => s.toLowerCase() : (s: string) => s;
  switch (pattern.case) {
    case "exact": {
      const want = fold(pattern.value);
      return (value) => fold(value) === want;
    }
    case "prefix": {
      if (pattern.value === "") throw new ConfigError("prefix", "must not be empty");
      const want = fold(pattern.value);
      return (value) => fold(value).startsWith(want);
    }
    case "suffix": {
      if (pattern.value === "") throw new ConfigError("suffix", "must not be empty");
      const want = fold(pattern.value);
      return (value) => fold(value).endsWith(want);
    }
    case "contains": {
      if (pattern.value === "") throw new ConfigError("contains", "must not be empty");
      const want = fold(pattern.value);
      return (value) => fold(value).includes(want);
    }
    case "safeRegex": {
      if (matcher.ignoreCase) {
        throw new ConfigError("ignore_case", "has no effect with safe_regex; use (?i) in the regex instead");
      }
      const regex = within("safe_regex", () => compileRegex(pattern.value, maxProgramSize));
      return (value) => regex.fullMatch(value);
    }
    case "custom":
      throw new ConfigError("custom", `the string matcher extension ${pattern.value.name} is not supported`);
    case undefined:
      throw new ConfigError("match_pattern", "is required");
  }
}
