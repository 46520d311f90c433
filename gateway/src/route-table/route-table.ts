import type { Route, RouteConfiguration, VirtualHost } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import type { HttpFilterFactory, PerFilterConfig } from "./filter-factory.js";
import { compileHeaderMutation, type HeaderMutation } from "./header-mutation.js";
import { compilePerFilterConfigs } from "./per-filter-config.js";
import { defaultMaxRegexProgramSize } from "./regex.js";
import type { RequestView } from "./request.js";
import { type CompiledRetryPolicy, compileRetryPolicy } from "./retry-policy.js";
import { type CompiledAction, compileAction, defaultMaxDirectResponseBodyBytes } from "./route-action.js";
import { type CompiledRouteMatch, compileRouteMatch } from "./route-match.js";
import { indexVirtualHosts, stripPort, type VirtualHostIndex } from "./virtual-host-index.js";

/** One compiled route of a virtual host. */
export interface CompiledRoute {
  /** The route's name, or its place (`virtual_hosts[0].routes[3]`) when it has none: what logs show. */
  readonly name: string;
  readonly match: CompiledRouteMatch;
  readonly action: CompiledAction;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly perFilter: ReadonlyMap<string, PerFilterConfig>;
  readonly perRequestBufferLimitBytes: number | undefined;
}

/** `VirtualHost.require_tls`. */
export type TlsRequirement = "none" | "external-only" | "all";

/** One compiled virtual host. */
export interface CompiledVirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly CompiledRoute[];
  readonly requireTls: TlsRequirement;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly perFilter: ReadonlyMap<string, PerFilterConfig>;
  /** The retry policy of routes that set none. */
  readonly retryPolicy: CompiledRetryPolicy | undefined;
  /** The legacy `cors` policy, compiled by the CORS filter. */
  readonly cors: unknown;
  readonly perRequestBufferLimitBytes: number | undefined;
  readonly includeAttemptCount: boolean;
}

/** What routing found for a request. */
export interface RouteSelection {
  /** Undefined: no virtual host serves the Host header. */
  readonly virtualHost: CompiledVirtualHost | undefined;
  /** Undefined: no route of the virtual host matches. */
  readonly route: CompiledRoute | undefined;
}

/** A compiled `RouteConfiguration`: Envoy's routing decision as a pure function. */
export interface RouteTable {
  readonly name: string;
  readonly virtualHosts: readonly CompiledVirtualHost[];
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly perFilter: ReadonlyMap<string, PerFilterConfig>;
  /** Headers removed from requests that come from outside (`internal_only_headers`). */
  readonly internalOnlyHeaders: readonly string[];
  /** Whether the most specific level's header edits win (applied last). */
  readonly mostSpecificHeaderMutationsWins: boolean;
  /**
   * Routes a request: the virtual host by Host, then the first route (in order)
   * whose match accepts it. `random` in [0, 1) decides `runtime_fraction` matches.
   */
  route(request: RequestView, random: number): RouteSelection;
}

/** Limits that bound what a pushed config may cost to evaluate. */
export interface RouteTableOptions {
  readonly factory: HttpFilterFactory;
  /** Largest RE2 program of a regex; default {@link defaultMaxRegexProgramSize}. */
  readonly maxRegexProgramSize?: number;
}

/** `VirtualHost.TlsRequirementType` → its name. */
const tlsRequirements: readonly TlsRequirement[] = ["none", "external-only", "all"];

/**
 * Compiles a RouteConfiguration. Throws a ConfigError naming the field for
 * anything Envoy would reject (bad regexes, duplicate domains, weights adding
 * up to 0, …) and for features the gateway cannot honour (VHDS, mirroring,
 * cluster specifier plugins, …): routing differently from the config is worse
 * than refusing it.
 */
export function compileRouteConfiguration(
  config: RouteConfiguration,
  options: RouteTableOptions,
  memo: CompiledRoutes = new WeakMap(),
): RouteTable {
  const maxProgramSize = options.maxRegexProgramSize ?? defaultMaxRegexProgramSize;
  if (config.vhds)
    throw new ConfigError("vhds", "on-demand virtual hosts (VHDS) are not supported by the gateway");
  if (config.clusterSpecifierPlugins.length > 0) {
    throw new ConfigError("cluster_specifier_plugins", "are not supported by the gateway");
  }
  if (config.requestMirrorPolicies.length > 0) {
    throw new ConfigError("request_mirror_policies", "request mirroring is not supported by the gateway");
  }
  const maxBody = config.maxDirectResponseBodySizeBytes ?? defaultMaxDirectResponseBodyBytes;
  const virtualHosts = config.virtualHosts.map((vh, i) =>
    within(`virtual_hosts[${i}]`, () =>
      compileVirtualHost(vh, {
        factory: options.factory,
        maxProgramSize,
        maxDirectResponseBodyBytes: maxBody,
        memo,
      }),
    ),
  );
  const index: VirtualHostIndex<CompiledVirtualHost> = indexVirtualHosts(
    virtualHosts.map((vh) => ({ domains: vh.domains, value: vh, name: vh.name })),
  );
  const ignorePort = config.ignorePortInHostMatching;
  return {
    name: config.name,
    virtualHosts,
    requestHeaders: compileHeaderMutation(
      config.requestHeadersToAdd,
      config.requestHeadersToRemove,
      "request_headers",
    ),
    responseHeaders: compileHeaderMutation(
      config.responseHeadersToAdd,
      config.responseHeadersToRemove,
      "response_headers",
    ),
    perFilter: compilePerFilterConfigs(
      config.typedPerFilterConfig,
      options.factory,
      "typed_per_filter_config",
    ),
    internalOnlyHeaders: config.internalOnlyHeaders.map((h) => h.toLowerCase()),
    mostSpecificHeaderMutationsWins: config.mostSpecificHeaderMutationsWins,
    route(request, random) {
      const host = ignorePort ? stripPort(request.authority) : request.authority;
      const virtualHost = index.find(host);
      if (!virtualHost) return { virtualHost: undefined, route: undefined };
      for (const route of virtualHost.routes) {
        if (route.match.matches(request, random)) return { virtualHost, route };
      }
      return { virtualHost, route: undefined };
    },
  };
}

/**
 * Compiled routes by Route message, to reuse when a new configuration holds
 * the same Route object (the xDS client's decoder keeps those of unchanged
 * routes). A route is compiled with the configuration's direct-response body
 * limit, which is kept with it; the filters and the regex bound are the
 * compiler's own and do not change.
 */
export type CompiledRoutes = WeakMap<Route, { maxDirectResponseBodyBytes: number; compiled: CompiledRoute }>;

interface VirtualHostContext {
  factory: HttpFilterFactory;
  maxProgramSize: number;
  maxDirectResponseBodyBytes: number;
  memo: CompiledRoutes;
}

function compileVirtualHost(vh: VirtualHost, context: VirtualHostContext): CompiledVirtualHost {
  const { factory, maxProgramSize, maxDirectResponseBodyBytes, memo } = context;
  if (vh.name === "") throw new ConfigError("name", "a virtual host needs a name");
  if (vh.domains.length === 0) throw new ConfigError("domains", "a virtual host needs at least one domain");
  if (vh.matcher)
    throw new ConfigError("matcher", "the generic matcher API is not supported by the gateway (use routes)");
  // Virtual clusters only name stats, and are ignored; global rate limits need a service the gateway has not.
  if (vh.rateLimits.length > 0)
    throw new ConfigError("rate_limits", "global rate limits are not supported by the gateway");
  if (vh.hedgePolicy) throw new ConfigError("hedge_policy", "hedging is not supported by the gateway");
  if (vh.requestMirrorPolicies.length > 0) {
    throw new ConfigError("request_mirror_policies", "request mirroring is not supported by the gateway");
  }
  const requireTls = tlsRequirements[vh.requireTls];
  if (requireTls === undefined) throw new ConfigError("require_tls", `unknown value ${vh.requireTls}`);
  const routes = vh.routes.map((route, j) => {
    // An unnamed route is named by its place, so only a named one is kept.
    const known = route.name !== "" ? memo.get(route) : undefined;
    if (known?.maxDirectResponseBodyBytes === maxDirectResponseBodyBytes) return known.compiled;
    const compiled = compileRoute(vh, route, j, context);
    if (route.name !== "") memo.set(route, { maxDirectResponseBodyBytes, compiled });
    return compiled;
  });
  const retry = vh.retryPolicy;
  const cors = vh.cors;
  return {
    name: vh.name,
    domains: vh.domains,
    routes,
    requireTls,
    requestHeaders: compileHeaderMutation(
      vh.requestHeadersToAdd,
      vh.requestHeadersToRemove,
      "request_headers",
    ),
    responseHeaders: compileHeaderMutation(
      vh.responseHeadersToAdd,
      vh.responseHeadersToRemove,
      "response_headers",
    ),
    perFilter: compilePerFilterConfigs(vh.typedPerFilterConfig, factory, "typed_per_filter_config"),
    retryPolicy: retry ? within("retry_policy", () => compileRetryPolicy(retry, maxProgramSize)) : undefined,
    cors: cors ? within("cors", () => factory.compileRouteCors(cors)) : undefined,
    perRequestBufferLimitBytes: vh.perRequestBufferLimitBytes,
    includeAttemptCount: vh.includeRequestAttemptCount,
  };
}

/** Compiles one route of a virtual host; a problem is reported at `routes[j]`. */
function compileRoute(vh: VirtualHost, route: Route, j: number, context: VirtualHostContext): CompiledRoute {
  const { factory, maxProgramSize, maxDirectResponseBodyBytes } = context;
  return within(`routes[${j}]`, (): CompiledRoute => {
    const match = compileRouteMatch(route.match, maxProgramSize);
    if (route.action.case === "route" && route.action.value.rateLimits.length > 0) {
      throw new ConfigError("route.rate_limits", "global rate limits are not supported by the gateway");
    }
    return {
      name: route.name !== "" ? route.name : `${vh.name}/routes[${j}]`,
      match,
      action: compileAction(route.action, {
        factory,
        maxProgramSize,
        maxDirectResponseBodyBytes,
        path: match.path,
      }),
      requestHeaders: compileHeaderMutation(
        route.requestHeadersToAdd,
        route.requestHeadersToRemove,
        "request_headers",
      ),
      responseHeaders: compileHeaderMutation(
        route.responseHeadersToAdd,
        route.responseHeadersToRemove,
        "response_headers",
      ),
      perFilter: compilePerFilterConfigs(route.typedPerFilterConfig, factory, "typed_per_filter_config"),
      perRequestBufferLimitBytes: route.perRequestBufferLimitBytes,
    };
  });
}
