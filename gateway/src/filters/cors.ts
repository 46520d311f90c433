import type { CorsPolicy } from "@dispatch/proto/envoy";
import { within } from "../route-table/config-error.js";
import type { RouteCorsPolicy } from "../route-table/filter-factory.js";
import type { RequestView } from "../route-table/request.js";
import { fractionOf } from "../route-table/runtime-fraction.js";
import { compileStringMatcher, type StringMatch } from "../route-table/string-matcher.js";

/**
 * A compiled CORS policy: the CORS filter's per-route `CorsPolicy`, or the
 * legacy `cors` field of a virtual host or route action (same fields). An
 * attribute left unset here falls through to the next, less specific policy.
 */
export interface CompiledCorsPolicy {
  readonly allowOrigins: readonly StringMatch[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly maxAge: string;
  readonly allowCredentials: boolean | undefined;
  readonly allowPrivateNetworkAccess: boolean | undefined;
  readonly forwardNotMatchingPreflights: boolean | undefined;
  /** The share of requests the policy is enforced for (`filter_enabled`; default all). */
  readonly enabled: number;
}

/** Compiles either form of CorsPolicy. */
export function compileCorsPolicy(
  policy: CorsPolicy | RouteCorsPolicy,
  maxProgramSize: number,
): CompiledCorsPolicy {
  const filterEnabled =
    "enabledSpecifier" in policy
      ? policy.enabledSpecifier.case === "filterEnabled"
        ? policy.enabledSpecifier.value
        : undefined
      : policy.filterEnabled;
  return {
    allowOrigins: policy.allowOriginStringMatch.map((m, i) =>
      within(`allow_origin_string_match[${i}]`, () => compileStringMatcher(m, maxProgramSize)),
    ),
    allowMethods: policy.allowMethods,
    allowHeaders: policy.allowHeaders,
    exposeHeaders: policy.exposeHeaders,
    maxAge: policy.maxAge,
    allowCredentials: policy.allowCredentials,
    allowPrivateNetworkAccess: policy.allowPrivateNetworkAccess,
    forwardNotMatchingPreflights: policy.forwardNotMatchingPreflights,
    enabled: filterEnabled ? within("filter_enabled", () => fractionOf(filterEnabled)) : 1,
  };
}

/** What the CORS filter does with a request. */
export type CorsDecision =
  /** Not a CORS request (or CORS is off for it): nothing to do. */
  | { readonly kind: "none" }
  /** A preflight the filter answers itself: 200 with these headers. */
  | { readonly kind: "preflight"; readonly headers: readonly (readonly [string, string])[] }
  /** Go on; every response to the request gets these headers. */
  | { readonly kind: "actual"; readonly responseHeaders: readonly (readonly [string, string])[] };

/**
 * Envoy's CORS filter as a pure decision. `policies` are most specific first
 * (route, virtual host, route configuration); each attribute comes from the
 * first policy that sets it, and whether CORS is on from the first policy.
 * An allowed origin is echoed (never `*`); a preflight from an origin that is
 * not allowed is forwarded unless `forward_not_matching_preflights` is false
 * (then it is answered 200 without CORS headers, which a browser refuses).
 * `random` is in [0, 1).
 */
export function decideCors(
  policies: readonly CompiledCorsPolicy[],
  request: RequestView,
  random: number,
): CorsDecision {
  const first = policies[0];
  if (!first) return { kind: "none" };
  // Shadow mode only counts origins in Envoy's stats; it never changes an answer.
  if (!(random < first.enabled)) return { kind: "none" };
  const origin = request.header("origin");
  if (origin === undefined || origin === "") return { kind: "none" };
  const pick = <K extends keyof CompiledCorsPolicy>(key: K, empty: (v: CompiledCorsPolicy[K]) => boolean) =>
    policies.find((p) => !empty(p[key]))?.[key];
  const allowOrigins = pick("allowOrigins", (v) => v.length === 0) ?? [];
  const allowed = allowOrigins.some((m) => m("*") || m(origin));
  const credentials = pick("allowCredentials", (v) => v === undefined) ?? false;

  const requestMethod = request.header("access-control-request-method");
  const preflight = request.method === "OPTIONS" && requestMethod !== undefined && requestMethod !== "";
  if (!preflight) {
    if (!allowed) return { kind: "actual", responseHeaders: [] };
    const headers: [string, string][] = [["access-control-allow-origin", origin]];
    if (credentials) headers.push(["access-control-allow-credentials", "true"]);
    const expose = pick("exposeHeaders", (v) => v === "");
    if (expose) headers.push(["access-control-expose-headers", expose]);
    return { kind: "actual", responseHeaders: headers };
  }
  const forwardNotMatching = pick("forwardNotMatchingPreflights", (v) => v === undefined) ?? true;
  if (!allowed && forwardNotMatching) return { kind: "actual", responseHeaders: [] };
  const headers: [string, string][] = [];
  if (allowed) headers.push(["access-control-allow-origin", origin]);
  if (credentials) headers.push(["access-control-allow-credentials", "true"]);
  const methods = pick("allowMethods", (v) => v === "");
  if (methods) headers.push(["access-control-allow-methods", methods === "*" ? requestMethod : methods]);
  const allowHeaders = pick("allowHeaders", (v) => v === "");
  if (allowHeaders) {
    const echo =
      allowHeaders === "*" ? (request.header("access-control-request-headers") ?? "") : allowHeaders;
    headers.push(["access-control-allow-headers", echo]);
  }
  const maxAge = pick("maxAge", (v) => v === "");
  if (maxAge) headers.push(["access-control-max-age", maxAge]);
  const privateNetwork = pick("allowPrivateNetworkAccess", (v) => v === undefined) ?? false;
  if (privateNetwork && request.header("access-control-request-private-network") === "true") {
    headers.push(["access-control-allow-private-network", "true"]);
  }
  return { kind: "preflight", headers };
}
