import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { type Any, anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  CorsSchema,
  type HttpConnectionManager,
  HttpConnectionManager_CodecType,
  HttpConnectionManagerSchema,
  type HttpFilter,
  HttpFilterSchema,
  JwtAuthenticationSchema,
  type Listener,
  ListenerSchema,
  LocalRateLimitSchema,
  RouterSchema,
} from "@dispatch/proto/envoy";
import type { IngressIR, JwksIR, JwtProviderIR } from "../ir/ir.js";
import { adsConfigSource, envoyEnum, socketAddress } from "./envoy-common.js";

/** HTTP filter names, which are also the keys of per-route configs. */
export const filterNames = {
  hcm: "envoy.filters.network.http_connection_manager",
  cors: "envoy.filters.http.cors",
  rateLimit: "envoy.filters.http.local_ratelimit",
  jwt: "envoy.filters.http.jwt_authn",
  router: "envoy.filters.http.router",
} as const;

/** The stat prefix (and name) of the per-route local rate limits. */
export const rateLimitStatPrefix = "dispatch_rate_limit";

/** Where in the listener each JWT provider sits, for reporting a rejected one against its endpoint. */
export interface ListenerOwners {
  /** Field path of `providers["<name>"]` → provider name. */
  providers: Map<string, string>;
}

const escapedSlashes = envoyEnum(
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction",
  "UNESCAPE_AND_REDIRECT",
);
const greaterOrEqual = envoyEnum("envoy.config.accesslog.v3.ComparisonFilter.Op", "GE");

/**
 * The HTTP listener: one filter chain with the HTTP connection manager, whose
 * routes come by RDS (so a route change never rebuilds the listener). Filters
 * run in this order: CORS (so refusals by later filters still carry CORS
 * headers a browser can read), the local rate limit (before JWT work), JWT
 * (when an endpoint uses it), the router. Every answer the proxy makes itself
 * (no route, rate limited, a 503 for a function that cannot serve, a refused
 * token) is a JSON error: `{"error": {"type", "message"}}`.
 */
export function translateListener(ir: IngressIR): { listener: Listener; owners: ListenerOwners } {
  const filters: HttpFilter[] = [
    httpFilter(filterNames.cors, anyPack(CorsSchema, create(CorsSchema))),
    // No bucket here: only routes that carry a rate limit are limited.
    httpFilter(
      filterNames.rateLimit,
      anyPack(LocalRateLimitSchema, create(LocalRateLimitSchema, { statPrefix: rateLimitStatPrefix })),
    ),
  ];
  const owners: ListenerOwners = { providers: new Map() };
  if (ir.jwtProviders.length > 0) {
    const jwtIndex = filters.length;
    filters.push(
      httpFilter(filterNames.jwt, anyPack(JwtAuthenticationSchema, jwtAuthentication(ir.jwtProviders))),
    );
    for (const provider of ir.jwtProviders) {
      const at = `filter_chains[0].filters[0].typed_config.http_filters[${jwtIndex}].typed_config`;
      owners.providers.set(`${at}.providers[${JSON.stringify(provider.name)}]`, provider.name);
      owners.providers.set(`${at}.requirement_map[${JSON.stringify(provider.name)}]`, provider.name);
    }
  }
  filters.push(httpFilter(filterNames.router, anyPack(RouterSchema, create(RouterSchema))));

  const hcm: HttpConnectionManager = create(HttpConnectionManagerSchema, {
    statPrefix: ir.listener.name.replaceAll("-", "_"),
    codecType: HttpConnectionManager_CodecType.AUTO,
    // The Server header of every answer (Envoy's default is "envoy").
    serverName: "dispatch",
    routeSpecifier: {
      case: "rds",
      value: { configSource: adsConfigSource(), routeConfigName: ir.listener.routeConfigName },
    },
    httpFilters: filters,
    useRemoteAddress: ir.listener.useRemoteAddress,
    xffNumTrustedHops: ir.listener.xffNumTrustedHops,
    // Routes and auth see one spelling of each path: "/a/../b" and "/a//b"
    // cannot slip past a route meant for "/b".
    normalizePath: true,
    mergeSlashes: true,
    pathWithEscapedSlashesAction: escapedSlashes,
    localReplyConfig: localReplies(),
  });
  const listener = create(ListenerSchema, {
    name: ir.listener.name,
    address: socketAddress({ host: ir.listener.host, port: ir.listener.port }),
    filterChains: [
      {
        filters: [
          {
            name: filterNames.hcm,
            configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) },
          },
        ],
      },
    ],
  });
  return { listener, owners };
}

function httpFilter(name: string, typedConfig: Any): HttpFilter {
  return create(HttpFilterSchema, { name, configType: { case: "typedConfig", value: typedConfig } });
}

/** One provider and one requirement per JWT endpoint; routes name their requirement. */
function jwtAuthentication(providers: JwtProviderIR[]) {
  return create(JwtAuthenticationSchema, {
    providers: Object.fromEntries(
      providers.map((p) => [
        p.name,
        {
          issuer: p.issuer,
          audiences: p.audiences,
          jwksSourceSpecifier: jwksSource(p.jwks),
          // The verified token is not passed on to the function.
          forward: false,
        },
      ]),
    ),
    requirementMap: Object.fromEntries(
      providers.map((p) => [p.name, { requiresType: { case: "providerName" as const, value: p.name } }]),
    ),
    // Browsers send preflights without credentials.
    bypassCorsPreflight: true,
  });
}

function jwksSource(jwks: JwksIR) {
  if (jwks.kind === "inline") {
    return {
      case: "localJwks" as const,
      value: { specifier: { case: "inlineString" as const, value: jwks.json } },
    };
  }
  return {
    case: "remoteJwks" as const,
    value: {
      httpUri: {
        uri: jwks.uri,
        httpUpstreamType: { case: "cluster" as const, value: jwks.cluster },
        timeout: durationFromMs(jwks.fetchTimeoutMs),
      },
      cacheDuration: durationFromMs(jwks.cacheMs),
      // Keys are fetched when the listener starts, not on the first call.
      asyncFetch: {},
    },
  };
}

/**
 * Local replies as JSON errors. Mappers are tried in order: no route (404), rate
 * limited (429), then any 5xx (SystemError) and 4xx (InputError) with the
 * proxy's own message (a direct response's body). Other local replies
 * (redirects) are left alone.
 */
function localReplies(): MessageInitShape<typeof HttpConnectionManagerSchema>["localReplyConfig"] {
  const json = (type: string, message: string): JsonObject => ({ error: { type, message } });
  const status = (min: number, key: string) => ({
    filterSpecifier: {
      case: "statusCodeFilter" as const,
      value: { comparison: { op: greaterOrEqual, value: { defaultValue: min, runtimeKey: key } } },
    },
  });
  const body = (value: JsonObject) => ({ format: { case: "jsonFormat" as const, value } });
  return {
    mappers: [
      {
        filter: { filterSpecifier: { case: "responseFlagFilter" as const, value: { flags: ["NR"] } } },
        bodyFormatOverride: body(json("InputError", "no endpoint serves %REQ(:METHOD)% %REQ(:PATH)%")),
      },
      {
        filter: { filterSpecifier: { case: "responseFlagFilter" as const, value: { flags: ["RL"] } } },
        bodyFormatOverride: body(json("InputError", "too many requests for this endpoint; try again later")),
      },
      {
        filter: status(500, "dispatch.local_reply.system_error_min_status"),
        bodyFormatOverride: body(json("SystemError", "%LOCAL_REPLY_BODY%")),
      },
      {
        filter: status(400, "dispatch.local_reply.input_error_min_status"),
        bodyFormatOverride: body(json("InputError", "%LOCAL_REPLY_BODY%")),
      },
    ],
  };
}
