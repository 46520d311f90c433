import { create } from "@bufbuild/protobuf";
import { type Any, anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import { upstreamHeaders } from "@dispatch/proto";
import {
  CorsPolicySchema,
  DirectResponseActionSchema,
  FractionalPercent_DenominatorType,
  type HeaderMatcher,
  JwtPerRouteConfigSchema,
  LocalRateLimitSchema,
  RetryPolicySchema,
  type Route,
  type RouteAction,
  RouteActionSchema,
  type RouteConfiguration,
  RouteConfigurationSchema,
  type RouteMatch,
  RouteMatchSchema,
  RouteSchema,
  type VirtualHost,
  VirtualHostSchema,
  WeightedClusterSchema,
} from "@dispatch/proto/envoy";
import type { BackendIR, CorsIR, ForwardIR, IngressIR, RouteIR } from "../ir/ir.js";
import {
  envoyEnum,
  escapeRegex,
  headerExact,
  headerPresent,
  headerRegex,
  setHeader,
} from "./envoy-common.js";
import { filterNames, rateLimitStatPrefix } from "./envoy-listener.js";
import { TranslationMemo } from "./memo.js";

/** Where in the route configuration each endpoint's routes sit. */
export interface RouteOwners {
  /** Field path of `virtual_hosts[i].routes[j]` → endpoint (`<org>/<name>`). */
  routes: Map<string, string>;
}

const xRateLimitHeaders = envoyEnum(
  "envoy.extensions.common.ratelimit.v3.XRateLimitHeadersRFCVersion",
  "DRAFT_VERSION_03",
);

/**
 * The route configuration the listener names: one virtual host per IR host,
 * each IR route expanded, in order, into the Envoy routes that implement it:
 *
 * 1. `https-only`: a request that came over plain HTTP is refused (403, a JSON
 *    error through the listener's local reply config) telling the caller to use
 *    HTTPS — an error, not a redirect, so a client never sends its body or
 *    credentials in the clear twice;
 * 2. `preflight` (CORS): an OPTIONS preflight is answered by the CORS filter
 *    (or refused, 403, for an origin it does not allow), never forwarded;
 * 3. the call itself: with token auth one route per accepted token (the
 *    Authorization header must equal `Bearer <token>`) and then
 *    `unauthorized`, a 401 for everything else (a rate limit, a bucket per
 *    route, is then per token); with JWT auth the route names its
 *    requirement; else one route.
 */
export function translateRoutes(
  ir: IngressIR,
  memo: TranslationMemo = new TranslationMemo(),
): {
  routeConfiguration: RouteConfiguration;
  owners: RouteOwners;
} {
  const owners: RouteOwners = { routes: new Map() };
  const virtualHosts: VirtualHost[] = ir.virtualHosts.map((vh, i) => {
    const routes: Route[] = [];
    for (const route of vh.routes) {
      for (const expanded of memo.expand(route, expandRoute)) {
        owners.routes.set(`virtual_hosts[${i}].routes[${routes.length}]`, route.endpoint);
        routes.push(expanded);
      }
    }
    return create(VirtualHostSchema, { name: vh.name, domains: vh.domains, routes });
  });
  const routeConfiguration = create(RouteConfigurationSchema, {
    name: ir.listener.routeConfigName,
    virtualHosts,
    // "api.example.com:8080" is served by the virtual host of "api.example.com".
    ignorePortInHostMatching: true,
    requestHeadersToRemove: ir.requestHeaders.remove,
    requestHeadersToAdd: ir.requestHeaders.set.map((h) => setHeader(h.name, h.value)),
  });
  return { routeConfiguration, owners };
}

function expandRoute(route: RouteIR): Route[] {
  const out: Route[] = [];
  const methods = methodMatchers(route.methods);
  if (route.httpsOnly) {
    out.push(
      create(RouteSchema, {
        name: `${route.name}/https-only`,
        match: pathMatch(route, [...methods, headerExact("x-forwarded-proto", "http")]),
        action: direct(403, "this endpoint takes HTTPS only: call it again with https://"),
      }),
    );
  }
  const cors = route.cors ? { [filterNames.cors]: anyPack(CorsPolicySchema, corsPolicy(route.cors)) } : {};
  if (route.cors) {
    out.push(
      create(RouteSchema, {
        name: `${route.name}/preflight`,
        match: pathMatch(route, [
          headerExact(":method", "OPTIONS"),
          headerPresent("origin"),
          headerPresent("access-control-request-method"),
        ]),
        action: direct(403, "this origin may not call this endpoint (CORS)"),
        typedPerFilterConfig: cors,
      }),
    );
  }
  const limits = route.rateLimit ? { [filterNames.rateLimit]: rateLimit(route.rateLimit) } : {};
  const call = (name: string, extra: HeaderMatcher[], perFilter: Record<string, Any>, remove: string[]) =>
    create(RouteSchema, {
      name,
      match: pathMatch(route, [...methods, ...extra]),
      action:
        route.action.kind === "forward"
          ? { case: "route", value: routeAction(route, route.action) }
          : direct(route.action.status, route.action.message),
      typedPerFilterConfig: { ...cors, ...limits, ...perFilter },
      requestHeadersToRemove: remove,
      requestHeadersToAdd: route.action.kind === "forward" ? singleBackendHeaders(route.action) : [],
    });

  switch (route.auth.kind) {
    case "public":
      out.push(call(route.name, [], {}, []));
      break;
    case "jwt":
      out.push(
        call(
          route.name,
          [],
          {
            [filterNames.jwt]: anyPack(
              JwtPerRouteConfigSchema,
              create(JwtPerRouteConfigSchema, {
                requirementSpecifier: { case: "requirementName", value: route.auth.provider },
              }),
            ),
          },
          [],
        ),
      );
      break;
    case "token":
      route.auth.tokens.forEach((token, i) => {
        // The token is the endpoint's credential, not the function's: it is not forwarded.
        out.push(
          call(`${route.name}/token-${i}`, [headerExact("authorization", `Bearer ${token}`)], {}, [
            "authorization",
          ]),
        );
      });
      out.push(
        create(RouteSchema, {
          name: `${route.name}/unauthorized`,
          match: pathMatch(route, methods),
          action: direct(401, 'this endpoint needs a token: send "Authorization: Bearer <token>"'),
          typedPerFilterConfig: { ...cors, ...limits },
          responseHeadersToAdd: [setHeader("www-authenticate", 'Bearer realm="dispatch"')],
        }),
      );
      break;
  }
  return out;
}

function pathMatch(route: RouteIR, headers: HeaderMatcher[]): RouteMatch {
  const m = route.match;
  switch (m.kind) {
    case "exact":
      return create(RouteMatchSchema, { pathSpecifier: { case: "path", value: m.path }, headers });
    case "regex":
      return create(RouteMatchSchema, {
        pathSpecifier: { case: "safeRegex", value: { regex: m.regex } },
        headers,
      });
    case "prefix":
      return create(RouteMatchSchema, { pathSpecifier: { case: "prefix", value: m.prefix }, headers });
  }
}

function methodMatchers(methods: string[]): HeaderMatcher[] {
  if (methods.length === 0) return [];
  const [only] = methods;
  if (methods.length === 1 && only !== undefined) return [headerExact(":method", only)];
  return [headerRegex(":method", methods.join("|"))];
}

function routeAction(route: RouteIR, forward: ForwardIR): RouteAction {
  const [single] = forward.backends;
  return create(RouteActionSchema, {
    clusterSpecifier:
      forward.backends.length === 1 && single
        ? { case: "cluster", value: single.cluster }
        : {
            case: "weightedClusters",
            value: create(WeightedClusterSchema, {
              clusters: forward.backends.map((b) => ({
                name: b.cluster,
                weight: b.weight,
                requestHeadersToAdd: backendHeaders(b),
              })),
            }),
          },
    timeout: durationFromMs(forward.timeoutMs),
    // "/acme/hello" → "/hello", "/acme" → "/": the function sees its own paths.
    ...(route.stripPrefix !== undefined
      ? { regexRewrite: { pattern: { regex: `^${escapeRegex(route.stripPrefix)}(/|$)` }, substitution: "/" } }
      : {}),
    ...(forward.retries
      ? {
          retryPolicy: create(RetryPolicySchema, {
            retryOn: forward.retries.retryOn.join(","),
            numRetries: forward.retries.attempts,
            ...(forward.retries.perTryTimeoutMs !== undefined
              ? { perTryTimeout: durationFromMs(forward.retries.perTryTimeoutMs) }
              : {}),
          }),
        }
      : {}),
  });
}

function backendHeaders(backend: BackendIR) {
  // Which function a call is for, replacing any a client sent: the activator (one
  // address for every function at zero) knows what to wake.
  return [setHeader(upstreamHeaders.org, backend.org), setHeader(upstreamHeaders.function, backend.function)];
}

/** With one backend the function headers go on the route; weighted backends carry their own. */
function singleBackendHeaders(forward: ForwardIR) {
  const [single] = forward.backends;
  return forward.backends.length === 1 && single ? backendHeaders(single) : [];
}

function direct(status: number, message: string): Route["action"] {
  return {
    case: "directResponse",
    value: create(DirectResponseActionSchema, {
      status,
      body: { specifier: { case: "inlineString", value: message } },
    }),
  };
}

function corsPolicy(cors: CorsIR) {
  return create(CorsPolicySchema, {
    allowOriginStringMatch: cors.allowOrigins.map((origin) =>
      origin === "*"
        ? { matchPattern: { case: "safeRegex" as const, value: { regex: ".*" } } }
        : { matchPattern: { case: "exact" as const, value: origin } },
    ),
    allowMethods: cors.allowMethods.join(","),
    allowHeaders: cors.allowHeaders.join(","),
    exposeHeaders: cors.exposeHeaders.join(","),
    ...(cors.maxAgeSeconds !== undefined ? { maxAge: String(cors.maxAgeSeconds) } : {}),
    allowCredentials: cors.allowCredentials,
  });
}

/** A token bucket for one route: the full budget is refilled each period. */
function rateLimit(limit: { requests: number; perMs: number }): Any {
  const always = (runtimeKey: string) => ({
    defaultValue: { numerator: 100, denominator: FractionalPercent_DenominatorType.HUNDRED },
    runtimeKey,
  });
  return anyPack(
    LocalRateLimitSchema,
    create(LocalRateLimitSchema, {
      statPrefix: rateLimitStatPrefix,
      tokenBucket: {
        maxTokens: limit.requests,
        tokensPerFill: limit.requests,
        fillInterval: durationFromMs(limit.perMs),
      },
      filterEnabled: always("dispatch.rate_limit.enabled"),
      filterEnforced: always("dispatch.rate_limit.enforced"),
      enableXRatelimitHeaders: xRateLimitHeaders,
    }),
  );
}
