import type { HeaderMatcher } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import { credentialEquals, credentialHeaders } from "./credential.js";
import { compileRegex } from "./regex.js";
import type { RequestView } from "./request.js";
import { compileStringMatcher, type StringMatch } from "./string-matcher.js";

/** A compiled matcher over a request. */
export type RequestPredicate = (request: RequestView) => boolean;

/**
 * Compiles an `envoy.config.route.v3.HeaderMatcher` (also used for `:method`,
 * `:path`, `:authority` and `:scheme`). Envoy's rules: a header the request
 * lacks matches nothing (but `present_match: false`) unless
 * `treat_missing_header_as_empty`; `invert_match` inverts the result.
 */
export function compileHeaderMatcher(matcher: HeaderMatcher, maxProgramSize: number): RequestPredicate {
  const name = matcher.name.toLowerCase();
  if (name === "") throw new ConfigError("name", "a header matcher needs a header name");
  const spec = matcher.headerMatchSpecifier;
  let test: StringMatch;
  let presence: boolean | undefined;
  switch (spec.case) {
    case "exactMatch": {
      const want = spec.value;
      test = credentialHeaders.has(name) ? credentialEquals(want) : (v) => v === want;
      break;
    }
    case "prefixMatch": {
      const want = spec.value;
      test = (v) => v.startsWith(want);
      break;
    }
    case "suffixMatch": {
      const want = spec.value;
      test = (v) => v.endsWith(want);
      break;
    }
    case "containsMatch": {
      const want = spec.value;
      test = (v) => v.includes(want);
      break;
    }
    case "safeRegexMatch": {
      const regex = within("safe_regex_match", () => compileRegex(spec.value, maxProgramSize));
      test = (v) => regex.fullMatch(v);
      break;
    }
    case "rangeMatch": {
      const { start, end } = spec.value;
      test = (v) => {
        if (!/^-?[0-9]+$/.test(v)) return false;
        const n = BigInt(v);
        return n >= start && n < end;
      };
      break;
    }
    case "stringMatch": {
      const pattern = spec.value.matchPattern;
      test =
        credentialHeaders.has(name) && pattern.case === "exact" && !spec.value.ignoreCase
          ? credentialEquals(pattern.value)
          : within("string_match", () => compileStringMatcher(spec.value, maxProgramSize));
      break;
    }
    case "presentMatch":
      presence = spec.value;
      test = () => true;
      break;
    case undefined:
      // No specifier: Envoy's legacy "present" match.
      presence = true;
      test = () => true;
      break;
  }
  const invert = matcher.invertMatch;
  const missingAsEmpty = matcher.treatMissingHeaderAsEmpty;
  return (request) => {
    let value = request.header(name);
    if (value === undefined && missingAsEmpty) value = "";
    let matched: boolean;
    if (presence !== undefined) matched = (value !== undefined) === presence;
    else matched = value !== undefined && test(value);
    return invert ? !matched : matched;
  };
}
