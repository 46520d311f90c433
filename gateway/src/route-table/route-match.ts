import type { RouteMatch } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import { compileHeaderMatcher } from "./header-matcher.js";
import { compileRegex } from "./regex.js";
import type { RequestView } from "./request.js";
import { fractionOf } from "./runtime-fraction.js";
import { compileStringMatcher } from "./string-matcher.js";

/** How a route's path specifier matched: what a prefix rewrite replaces. */
export type PathSpecifier =
  | { kind: "prefix"; prefix: string; caseSensitive: boolean }
  | { kind: "path"; path: string; caseSensitive: boolean }
  | { kind: "regex"; regex: string }
  | { kind: "separated-prefix"; prefix: string; caseSensitive: boolean };

/** A compiled `RouteMatch`. `random` is a number in [0, 1) drawn once per request. */
export interface CompiledRouteMatch {
  readonly path: PathSpecifier;
  matches(request: RequestView, random: number): boolean;
}

/**
 * Compiles a RouteMatch the way Envoy evaluates it: the path specifier
 * (`prefix` on the whole `:path`; `path`, `safe_regex` and
 * `path_separated_prefix` on the path without its query string), then every
 * header matcher, every query parameter matcher, `grpc` and `runtime_fraction`.
 * `connect_matcher`, `path_match_policy`, `tls_context` and `dynamic_metadata`
 * are refused: the gateway cannot evaluate them, and ignoring them would route
 * requests the config meant to keep out.
 */
export function compileRouteMatch(match: RouteMatch | undefined, maxProgramSize: number): CompiledRouteMatch {
  if (!match) throw new ConfigError("match", "is required");
  const caseSensitive = match.caseSensitive ?? true;
  const fold = caseSensitive ? (s: string) => s : (s: string) => s.toLowerCase();
  const spec = match.pathSpecifier;
  let path: PathSpecifier;
  let pathMatches: (request: RequestView) => boolean;
  switch (spec.case) {
    case "prefix": {
      const prefix = fold(spec.value);
      path = { kind: "prefix", prefix: spec.value, caseSensitive };
      pathMatches = (r) => fold(r.path).startsWith(prefix);
      break;
    }
    case "path": {
      const exact = fold(spec.value);
      path = { kind: "path", path: spec.value, caseSensitive };
      pathMatches = (r) => fold(r.pathOnly) === exact;
      break;
    }
    case "safeRegex": {
      const regex = within("match.safe_regex", () => compileRegex(spec.value, maxProgramSize));
      path = { kind: "regex", regex: regex.source };
      pathMatches = (r) => regex.fullMatch(r.pathOnly);
      break;
    }
    case "pathSeparatedPrefix": {
      const value = spec.value;
      if (!value.startsWith("/") || (value.length > 1 && value.endsWith("/")) || /[?#]/.test(value)) {
        throw new ConfigError(
          "match.path_separated_prefix",
          `${JSON.stringify(value)} must start with "/", not end with "/", and hold no "?" or "#"`,
        );
      }
      const prefix = fold(value);
      path = { kind: "separated-prefix", prefix: value, caseSensitive };
      pathMatches = (r) => {
        const p = fold(r.pathOnly);
        return p.startsWith(prefix) && (p.length === prefix.length || p[prefix.length] === "/");
      };
      break;
    }
    case "connectMatcher":
      throw new ConfigError("match.connect_matcher", "CONNECT routes are not supported by the gateway");
    case "pathMatchPolicy":
      throw new ConfigError(
        "match.path_match_policy",
        "path match extensions are not supported by the gateway",
      );
    case undefined:
      throw new ConfigError(
        "match.path_specifier",
        "is required (prefix, path, safe_regex or path_separated_prefix)",
      );
  }
  if (match.tlsContext) throw new ConfigError("match.tls_context", "is not supported by the gateway");
  if (match.dynamicMetadata.length > 0) {
    throw new ConfigError("match.dynamic_metadata", "is not supported by the gateway");
  }
  const headers = match.headers.map((h, i) =>
    within(`match.headers[${i}]`, () => compileHeaderMatcher(h, maxProgramSize)),
  );
  const query = match.queryParameters.map((q, i) =>
    within(`match.query_parameters[${i}]`, () => {
      const name = q.name;
      if (name === "") throw new ConfigError("name", "is required");
      const spec = q.queryParameterMatchSpecifier;
      switch (spec.case) {
        case "presentMatch": {
          const present = spec.value;
          return (r: RequestView) => (r.queryParameter(name) !== undefined) === present;
        }
        case "stringMatch": {
          const test = within("string_match", () => compileStringMatcher(spec.value, maxProgramSize));
          return (r: RequestView) => {
            const value = r.queryParameter(name);
            return value !== undefined && test(value);
          };
        }
        case undefined:
          return (r: RequestView) => r.queryParameter(name) !== undefined;
      }
    }),
  );
  const grpc = match.grpc !== undefined;
  const fraction = match.runtimeFraction
    ? within("match.runtime_fraction", () => fractionOf(match.runtimeFraction))
    : 1;
  return {
    path,
    matches(request, random) {
      if (!pathMatches(request)) return false;
      for (const h of headers) if (!h(request)) return false;
      for (const q of query) if (!q(request)) return false;
      if (grpc && !(request.header("content-type") ?? "").startsWith("application/grpc")) return false;
      return fraction >= 1 || random < fraction;
    },
  };
}
