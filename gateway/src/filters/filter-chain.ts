import type { PerFilterConfig } from "../route-table/filter-factory.js";
import type { ConnectionManager } from "../route-table/listener.js";
import type { LocalReply } from "../route-table/local-reply.js";
import type { RequestView } from "../route-table/request.js";
import type { WeightedTarget } from "../route-table/route-action.js";
import type { RouteSelection, RouteTable } from "../route-table/route-table.js";
import { type CompiledCorsPolicy, decideCors } from "./cors.js";
import type { FilterConfig, RouteFilterConfig } from "./http-filters.js";
import type { JwksCache } from "./jwks-cache.js";
import { checkJwt } from "./jwt.js";
import type { RateLimiter } from "./rate-limit.js";

/** The state the filters keep across requests, and their clock and dice. */
export interface FilterRuntime {
  readonly jwks: JwksCache;
  readonly rateLimiter: RateLimiter;
  readonly now: () => number;
  readonly random: () => number;
}

/** One request as the filters see it, with routing already decided. */
export interface FilterInput {
  readonly manager: ConnectionManager;
  readonly table: RouteTable | undefined;
  readonly selection: RouteSelection;
  /** The weighted cluster entry the router will use (its per-filter configs are the most specific). */
  readonly weighted: WeightedTarget | undefined;
  readonly request: RequestView;
  /** The request's draw in [0, 1) (shared with route matching, as in Envoy). */
  readonly random: number;
}

/** What the filter chain decided. */
export interface FilterResult {
  /** A local reply that ends the request (a refused JWT, a rate limit). */
  readonly reply: LocalReply | undefined;
  /** An answer a filter sends itself, untouched by local reply mapping (a CORS preflight). */
  readonly respond:
    | { readonly status: number; readonly headers: readonly (readonly [string, string])[] }
    | undefined;
  /** Edits to the upstream request's headers. */
  readonly removeRequestHeaders: readonly string[];
  readonly setRequestHeaders: readonly (readonly [string, string])[];
  readonly addRequestHeaders: readonly (readonly [string, string])[];
  /** Headers for whatever response the request ends with (CORS, x-ratelimit-*). */
  readonly responseHeaders: readonly (readonly [string, string])[];
}

/**
 * Runs the connection manager's HTTP filters in order, as Envoy's filter
 * chain does: each may stop the request with an answer; the answer still
 * carries the response headers of the filters before it (so a 401 from JWT
 * has the CORS headers a browser needs to read it). A filter switched off for
 * the route (a `FilterConfig` with `disabled`) is skipped; one `disabled` at
 * the listener runs only where a route configures it.
 */
export async function runFilterChain(input: FilterInput, runtime: FilterRuntime): Promise<FilterResult> {
  // The lists stay the shared empty ones until a filter has something for them: most requests change nothing.
  let removeRequestHeaders: readonly string[] = noNames;
  let setRequestHeaders: Headers = noHeaders;
  let addRequestHeaders: Headers = noHeaders;
  let responseHeaders: Headers = noHeaders;
  const result = (reply?: LocalReply, respond?: FilterResult["respond"]): FilterResult => ({
    reply: reply ? { ...reply, headers: [...responseHeaders, ...reply.headers] } : undefined,
    respond,
    removeRequestHeaders,
    setRequestHeaders,
    addRequestHeaders,
    responseHeaders,
  });
  for (const filter of input.manager.filters) {
    const levels = perFilterLevels(input, filter.name);
    const mostSpecific = levels[0];
    if (mostSpecific?.disabled) continue;
    if (filter.disabled && !mostSpecific) continue;
    const config = filter.config as FilterConfig;
    switch (config.kind) {
      case "cors": {
        if (!input.selection.route || !input.selection.virtualHost) break;
        // Without an Origin no policy changes anything (decideCors answers "none").
        const origin = input.request.header("origin");
        if (origin === undefined || origin === "") break;
        const decision = decideCors(corsPolicies(input, levels), input.request, input.random);
        if (decision.kind === "preflight")
          return result(undefined, { status: 200, headers: decision.headers });
        if (decision.kind === "actual") responseHeaders = concat(responseHeaders, decision.responseHeaders);
        break;
      }
      case "jwt": {
        const perRoute = firstEnabled(levels, "jwt");
        const outcome = await checkJwt(config.config, perRoute?.config, input.request, input.random, {
          jwks: runtime.jwks,
          now: runtime.now,
        });
        if (!outcome.ok) {
          const { status, message, missing } = outcome.failure;
          const strip = config.config.stripFailureResponse;
          const realm = `Bearer realm="${input.request.scheme}://${input.request.authority}${input.request.pathOnly}"`;
          return result({
            status,
            body: strip ? "" : message,
            flags: ["UAEX"],
            details: "jwt_authn_access_denied",
            headers: strip ? [] : [["www-authenticate", missing ? realm : `${realm}, error="invalid_token"`]],
          });
        }
        removeRequestHeaders = concat(removeRequestHeaders, outcome.effects.removeHeaders);
        setRequestHeaders = concat(setRequestHeaders, outcome.effects.setHeaders);
        break;
      }
      case "rate-limit": {
        const perRoute = firstEnabled(levels, "rate-limit");
        const limit = perRoute ? perRoute.config : config.config;
        const key = perRoute ? `route:${routeKey(input)}:${filter.name}` : `listener:${filter.name}`;
        const decision = runtime.rateLimiter.decide(key, limit, runtime.now(), runtime.random);
        responseHeaders = concat(responseHeaders, decision.responseHeaders);
        addRequestHeaders = concat(addRequestHeaders, decision.requestHeaders);
        if (decision.limited) {
          return result({
            status: limit.status,
            body: "local_rate_limited",
            flags: ["RL"],
            details: "local_rate_limited",
            headers: [],
          });
        }
        break;
      }
    }
  }
  return result();
}

type Headers = readonly (readonly [string, string])[];
const noHeaders: Headers = Object.freeze([]);
const noNames: readonly string[] = Object.freeze([]);
const noLevels: readonly PerFilterConfig[] = Object.freeze([]);

/** `list` then `more`, sharing either when the other is empty (neither is ever changed). */
function concat<T>(list: readonly T[], more: readonly T[]): readonly T[] {
  if (more.length === 0) return list;
  if (list.length === 0) return more;
  return [...list, ...more];
}

/** The per-route configs of a filter, most specific first: weighted cluster, route, virtual host, route configuration. */
function perFilterLevels(input: FilterInput, name: string): readonly PerFilterConfig[] {
  const weighted = input.weighted?.perFilter?.get(name);
  const route = input.selection.route?.perFilter?.get(name);
  const virtualHost = input.selection.virtualHost?.perFilter?.get(name);
  const table = input.table?.perFilter?.get(name);
  if (!weighted && !route && !virtualHost && !table) return noLevels;
  const out: PerFilterConfig[] = [];
  if (weighted) out.push(weighted);
  if (route) out.push(route);
  if (virtualHost) out.push(virtualHost);
  if (table) out.push(table);
  return out;
}

/** The most specific enabled per-route config of a filter, when it is of `kind`. */
function firstEnabled<K extends RouteFilterConfig["kind"]>(
  levels: readonly PerFilterConfig[],
  kind: K,
): Extract<RouteFilterConfig, { kind: K }> | undefined {
  for (const level of levels) {
    if (level.disabled) continue;
    const config = level.config as RouteFilterConfig;
    if (config.kind === kind) return config as Extract<RouteFilterConfig, { kind: K }>;
  }
  return undefined;
}

/**
 * The CORS policies of a request, most specific first: the filter's per-route
 * configs; only when there are none, the legacy `cors` of the route action and
 * then of the virtual host (Envoy ignores the legacy fields otherwise).
 */
function corsPolicies(input: FilterInput, levels: readonly PerFilterConfig[]): CompiledCorsPolicy[] {
  const typed: CompiledCorsPolicy[] = [];
  for (const level of levels) {
    if (level.disabled) continue;
    const config = level.config as RouteFilterConfig;
    if (config.kind === "cors") typed.push(config.policy);
  }
  if (typed.length > 0) return typed;
  const legacy: CompiledCorsPolicy[] = [];
  const action = input.selection.route?.action;
  for (const cors of [
    action?.kind === "forward" ? action.cors : undefined,
    input.selection.virtualHost?.cors,
  ]) {
    const c = cors as RouteFilterConfig | undefined;
    if (c?.kind === "cors") legacy.push(c.policy);
  }
  return legacy;
}

function routeKey(input: FilterInput): string {
  return `${input.table?.name ?? ""}/${input.selection.virtualHost?.name ?? ""}/${input.selection.route?.name ?? ""}`;
}
