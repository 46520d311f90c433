import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { type Any, anyUnpack } from "@bufbuild/protobuf/wkt";
import {
  CORS_POLICY_TYPE_URL,
  CORS_TYPE_URL,
  CorsPolicySchema,
  JWT_AUTHENTICATION_TYPE_URL,
  JWT_PER_ROUTE_CONFIG_TYPE_URL,
  JwtAuthenticationSchema,
  JwtPerRouteConfigSchema,
  LOCAL_RATE_LIMIT_TYPE_URL,
  LocalRateLimitSchema,
} from "@dispatch/proto/envoy";
import { ConfigError } from "../route-table/config-error.js";
import type { CompiledHttpFilter, HttpFilterFactory } from "../route-table/filter-factory.js";
import { UnknownFilterConfigError } from "../route-table/per-filter-config.js";
import { defaultMaxRegexProgramSize } from "../route-table/regex.js";
import { type CompiledCorsPolicy, compileCorsPolicy } from "./cors.js";
import { compileJwtAuthentication, type JwtConfig, type JwtPerRoute } from "./jwt-config.js";
import { compileRateLimit, type RateLimitConfig } from "./rate-limit.js";

/** The listener-level config of each HTTP filter the gateway has. */
export type FilterConfig =
  | { readonly kind: "cors" }
  | { readonly kind: "jwt"; readonly config: JwtConfig }
  | { readonly kind: "rate-limit"; readonly config: RateLimitConfig };

/** A per-route config of one of those filters. */
export type RouteFilterConfig =
  | { readonly kind: "cors"; readonly policy: CompiledCorsPolicy }
  | { readonly kind: "jwt"; readonly config: JwtPerRoute }
  | { readonly kind: "rate-limit"; readonly config: RateLimitConfig };

/**
 * The HTTP filters of the embedded gateway, by the type URL of their config:
 * `envoy.filters.http.cors`, `envoy.filters.http.jwt_authn` and
 * `envoy.filters.http.local_ratelimit` (the router is the connection
 * manager's own). Token auth needs no filter: it is expressed as routes (see
 * the package README).
 */
export function createHttpFilterFactory(maxProgramSize = defaultMaxRegexProgramSize): HttpFilterFactory {
  return {
    compileFilter(name, typedConfig, isOptional): CompiledHttpFilter | undefined {
      const config = compileListenerConfig(typedConfig, maxProgramSize);
      if (!config) {
        if (isOptional) return undefined;
        throw new ConfigError(
          "typed_config",
          `the gateway has no HTTP filter for ${typedConfig.typeUrl} (mark the filter is_optional or remove it)`,
        );
      }
      const clusters =
        config.kind === "jwt"
          ? [...config.config.providers.values()].flatMap((p) =>
              p.jwks.kind === "remote" ? [p.jwks.cluster] : [],
            )
          : [];
      return { name, typeUrl: typedConfig.typeUrl, config, disabled: false, clusters };
    },
    compilePerRoute(typedConfig): RouteFilterConfig {
      switch (typedConfig.typeUrl) {
        case CORS_POLICY_TYPE_URL:
          return {
            kind: "cors",
            policy: compileCorsPolicy(unpack(typedConfig, CorsPolicySchema), maxProgramSize),
          };
        case JWT_PER_ROUTE_CONFIG_TYPE_URL: {
          const perRoute = unpack(typedConfig, JwtPerRouteConfigSchema);
          const spec = perRoute.requirementSpecifier;
          if (spec.case === "disabled" && spec.value) return { kind: "jwt", config: { kind: "disabled" } };
          if (spec.case === "requirementName" && spec.value !== "") {
            return { kind: "jwt", config: { kind: "requirement", name: spec.value } };
          }
          throw new ConfigError("requirement_specifier", "is required (disabled: true or requirement_name)");
        }
        case LOCAL_RATE_LIMIT_TYPE_URL:
          return { kind: "rate-limit", config: compileRateLimit(unpack(typedConfig, LocalRateLimitSchema)) };
        default:
          throw new UnknownFilterConfigError(typedConfig.typeUrl);
      }
    },
    compileRouteCors(policy) {
      return { kind: "cors", policy: compileCorsPolicy(policy, maxProgramSize) } satisfies RouteFilterConfig;
    },
  };
}

function compileListenerConfig(typedConfig: Any, maxProgramSize: number): FilterConfig | undefined {
  switch (typedConfig.typeUrl) {
    case CORS_TYPE_URL:
      return { kind: "cors" };
    case JWT_AUTHENTICATION_TYPE_URL:
      return {
        kind: "jwt",
        config: compileJwtAuthentication(unpack(typedConfig, JwtAuthenticationSchema), maxProgramSize),
      };
    case LOCAL_RATE_LIMIT_TYPE_URL:
      return { kind: "rate-limit", config: compileRateLimit(unpack(typedConfig, LocalRateLimitSchema)) };
    default:
      return undefined;
  }
}

function unpack<Desc extends DescMessage>(any: Any, schema: Desc): MessageShape<Desc> {
  const message = anyUnpack(any, schema);
  if (!message) throw new ConfigError("typed_config", `cannot decode ${any.typeUrl}`);
  return message;
}
