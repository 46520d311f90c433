import type { Any } from "@bufbuild/protobuf/wkt";
import type { VirtualHost } from "@dispatch/proto/envoy";

/** The legacy `envoy.config.route.v3.CorsPolicy` of a virtual host or route action. */
export type RouteCorsPolicy = NonNullable<VirtualHost["cors"]>;

/**
 * How the route table compiles what belongs to HTTP filters: the filters'
 * listener-level configs and the per-route configs routes carry in
 * `typed_per_filter_config`. The route table knows Envoy's routing; the
 * filters (`../filters/`) know their own configs; this seam keeps the route
 * table free of them.
 */
export interface HttpFilterFactory {
  /**
   * Compiles an HTTP filter of the connection manager. Returns undefined for a
   * filter the gateway does not have when it is `is_optional` (Envoy skips
   * those too); throws a ConfigError for an unknown required one.
   */
  compileFilter(name: string, typedConfig: Any, isOptional: boolean): CompiledHttpFilter | undefined;
  /** Compiles a per-route config (its type URL says which filter's it is). */
  compilePerRoute(typedConfig: Any): unknown;
  /** Compiles a legacy CORS policy set on a virtual host or a route action. */
  compileRouteCors(policy: RouteCorsPolicy): unknown;
}

/** One compiled HTTP filter of the chain, in the order the connection manager lists them. */
export interface CompiledHttpFilter {
  /** The filter's name: the key its per-route configs use. */
  readonly name: string;
  /** Which filter it is (its config's type URL). */
  readonly typeUrl: string;
  /** The compiled listener-level config. */
  readonly config: unknown;
  /** `disabled`: off unless a route enables it. */
  readonly disabled: boolean;
  /** Clusters the filter itself calls (e.g. where JWKS are fetched from). */
  readonly clusters: readonly string[];
}

/** A per-route filter config: the compiled config, or the filter switched off for the route. */
export type PerFilterConfig =
  | { readonly disabled: true }
  | { readonly disabled: false; readonly config: unknown };
