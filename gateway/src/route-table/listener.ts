import { anyUnpack, durationMs } from "@bufbuild/protobuf/wkt";
import {
  type FilterChain,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  type HttpConnectionManager,
  HttpConnectionManagerSchema,
  type Listener,
  ROUTER_TYPE_URL,
} from "@dispatch/proto/envoy";
import { checkAdsSource } from "./cluster.js";
import { ConfigError, within } from "./config-error.js";
import { envoyEnum } from "./envoy-enum.js";
import type { CompiledHttpFilter, HttpFilterFactory } from "./filter-factory.js";
import { compileLocalReplyConfig, type LocalReplyRenderer } from "./local-reply.js";
import { defaultMaxRegexProgramSize } from "./regex.js";
import { compileRouteConfiguration, type RouteTable } from "./route-table.js";

/** `path_with_escaped_slashes_action`: what to do with `%2F`, `%5C` in a path. */
export type EscapedSlashesAction = "keep" | "reject" | "unescape-and-redirect" | "unescape-and-forward";

/** The HTTP connection manager of a listener, compiled. */
export interface ConnectionManager {
  /** Where the routes come from: RDS by name, or inline. */
  readonly routes:
    | { readonly kind: "rds"; readonly name: string }
    | { readonly kind: "inline"; readonly table: RouteTable };
  /** The HTTP filters before the router, in order. */
  readonly filters: readonly CompiledHttpFilter[];
  readonly normalizePath: boolean;
  readonly mergeSlashes: boolean;
  readonly escapedSlashes: EscapedSlashesAction;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  readonly skipXffAppend: boolean;
  readonly via: string;
  /** The `server` response header: `serverName` (default "envoy") and how it treats an upstream's. */
  readonly serverName: string;
  readonly serverHeader: "overwrite" | "append-if-absent" | "pass-through";
  readonly stripAnyHostPort: boolean;
  readonly stripTrailingHostDot: boolean;
  readonly localReplies: LocalReplyRenderer;
  /** The whole request must have arrived within this (`request_timeout`); 0: no limit. */
  readonly requestTimeoutMs: number;
  /** The longest a request's connection may be idle (`stream_idle_timeout`); 0: no limit. */
  readonly streamIdleTimeoutMs: number;
  readonly maxRequestHeadersKb: number;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  readonly alwaysSetRequestIdInResponse: boolean;
}

/** A compiled Listener: its connection managers by transport (`tls` or plain). */
export interface CompiledListener {
  readonly name: string;
  /** The port of its socket address (for choosing among listeners). */
  readonly port: number | undefined;
  /** The connection manager for a connection that is TLS or not, or undefined when no chain takes it. */
  connectionManager(tls: boolean): ConnectionManager | undefined;
  /** The RDS names its connection managers need. */
  readonly routeConfigNames: readonly string[];
}

const pathWithEscapedSlashes =
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.PathWithEscapedSlashesAction";
const serverHeaderTransformation =
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.ServerHeaderTransformation";

const escapedSlashes: Record<number, EscapedSlashesAction> = {
  [envoyEnum(pathWithEscapedSlashes, "IMPLEMENTATION_SPECIFIC_DEFAULT")]: "keep",
  [envoyEnum(pathWithEscapedSlashes, "KEEP_UNCHANGED")]: "keep",
  [envoyEnum(pathWithEscapedSlashes, "REJECT_REQUEST")]: "reject",
  [envoyEnum(pathWithEscapedSlashes, "UNESCAPE_AND_REDIRECT")]: "unescape-and-redirect",
  [envoyEnum(pathWithEscapedSlashes, "UNESCAPE_AND_FORWARD")]: "unescape-and-forward",
};

const serverHeaders: Record<number, ConnectionManager["serverHeader"]> = {
  [envoyEnum(serverHeaderTransformation, "OVERWRITE")]: "overwrite",
  [envoyEnum(serverHeaderTransformation, "APPEND_IF_ABSENT")]: "append-if-absent",
  [envoyEnum(serverHeaderTransformation, "PASS_THROUGH")]: "pass-through",
};

const http3 = envoyEnum(
  "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.CodecType",
  "HTTP3",
);

/** Envoy's default `stream_idle_timeout`: 5 minutes. */
export const defaultStreamIdleTimeoutMs = 300_000;
/** Envoy's default `max_request_headers_kb`: 60. */
export const defaultMaxRequestHeadersKb = 60;

/** What compiling a listener needs. */
export interface ListenerOptions {
  readonly factory: HttpFilterFactory;
  readonly maxRegexProgramSize?: number;
}

/**
 * Compiles a Listener whose filter chains hold one network filter, the HTTP
 * connection manager. A chain is chosen per connection by its
 * `filter_chain_match.transport_protocol` (`tls` or `raw_buffer`; empty takes
 * both), falling back to `default_filter_chain`; the gateway refuses chains
 * that select on anything else, since it could not honour that.
 */
export function compileListener(listener: Listener, options: ListenerOptions): CompiledListener {
  if (listener.name === "") throw new ConfigError("name", "a listener needs a name");
  if (listener.listenerFilters.length > 0) {
    throw new ConfigError("listener_filters", "listener filters are not supported by the gateway");
  }
  if (listener.filterChainMatcher)
    throw new ConfigError("filter_chain_matcher", "is not supported by the gateway");
  const chains = listener.filterChains.map((chain, i) =>
    within(`filter_chains[${i}]`, () => compileChain(chain, options)),
  );
  const fallback = listener.defaultFilterChain
    ? within("default_filter_chain", () => compileChain(listener.defaultFilterChain as FilterChain, options))
    : undefined;
  if (chains.length === 0 && !fallback) {
    throw new ConfigError("filter_chains", "a listener needs a filter chain with an HTTP connection manager");
  }
  const socket =
    listener.address?.address.case === "socketAddress" ? listener.address.address.value : undefined;
  const port = socket?.portSpecifier.case === "portValue" ? socket.portSpecifier.value : undefined;
  const names = new Set<string>();
  for (const chain of [...chains, ...(fallback ? [fallback] : [])]) {
    if (chain.manager.routes.kind === "rds") names.add(chain.manager.routes.name);
  }
  return {
    name: listener.name,
    port,
    routeConfigNames: [...names].sort(),
    connectionManager(tls) {
      const want = tls ? "tls" : "raw_buffer";
      const exact = chains.find((c) => c.transportProtocol === want);
      const any = chains.find((c) => c.transportProtocol === "");
      return (exact ?? any ?? fallback)?.manager;
    },
  };
}

function compileChain(
  chain: FilterChain,
  options: ListenerOptions,
): { transportProtocol: string; manager: ConnectionManager } {
  const match = chain.filterChainMatch;
  if (match) {
    const unsupported =
      match.destinationPort !== undefined ||
      match.prefixRanges.length > 0 ||
      match.directSourcePrefixRanges.length > 0 ||
      match.sourcePrefixRanges.length > 0 ||
      match.sourcePorts.length > 0 ||
      match.serverNames.length > 0 ||
      match.applicationProtocols.length > 0 ||
      match.sourceType !== 0;
    if (unsupported) {
      throw new ConfigError(
        "filter_chain_match",
        "the gateway chooses filter chains only by transport_protocol",
      );
    }
    if (!["", "tls", "raw_buffer"].includes(match.transportProtocol)) {
      throw new ConfigError(
        "filter_chain_match.transport_protocol",
        `unknown transport protocol ${match.transportProtocol}`,
      );
    }
  }
  const [filter, ...others] = chain.filters;
  if (!filter || others.length > 0) {
    throw new ConfigError(
      "filters",
      "the gateway takes exactly one network filter: the HTTP connection manager",
    );
  }
  const config = filter.configType.case === "typedConfig" ? filter.configType.value : undefined;
  if (!config || config.typeUrl !== HTTP_CONNECTION_MANAGER_TYPE_URL) {
    throw new ConfigError(
      "filters[0]",
      `must be the HTTP connection manager, not ${config?.typeUrl ?? filter.name}`,
    );
  }
  const hcm = anyUnpack(config, HttpConnectionManagerSchema);
  if (!hcm) throw new ConfigError("filters[0].typed_config", "cannot decode the HttpConnectionManager");
  return {
    transportProtocol: match?.transportProtocol ?? "",
    manager: within("filters[0].typed_config", () => compileConnectionManager(hcm, options)),
  };
}

/** Compiles an HttpConnectionManager. */
export function compileConnectionManager(
  hcm: HttpConnectionManager,
  options: ListenerOptions,
): ConnectionManager {
  const maxProgramSize = options.maxRegexProgramSize ?? defaultMaxRegexProgramSize;
  if (hcm.codecType === http3) throw new ConfigError("codec_type", "HTTP/3 is not supported by the gateway");
  let routes: ConnectionManager["routes"];
  const spec = hcm.routeSpecifier;
  switch (spec.case) {
    case "rds":
      if (spec.value.routeConfigName === "") throw new ConfigError("rds.route_config_name", "is required");
      checkAdsSource(spec.value.configSource, "rds.config_source");
      routes = { kind: "rds", name: spec.value.routeConfigName };
      break;
    case "routeConfig": {
      const inline = spec.value;
      routes = {
        kind: "inline",
        table: within("route_config", () => compileRouteConfiguration(inline, options)),
      };
      break;
    }
    case "scopedRoutes":
      throw new ConfigError("scoped_routes", "scoped routes are not supported by the gateway");
    case undefined:
      throw new ConfigError("route_specifier", "is required (rds or route_config)");
  }
  const filters = compileFilters(hcm, options.factory);
  const action = escapedSlashes[hcm.pathWithEscapedSlashesAction];
  if (action === undefined) {
    throw new ConfigError(
      "path_with_escaped_slashes_action",
      `unknown value ${hcm.pathWithEscapedSlashesAction}`,
    );
  }
  const serverHeader = serverHeaders[hcm.serverHeaderTransformation];
  if (serverHeader === undefined) {
    throw new ConfigError("server_header_transformation", `unknown value ${hcm.serverHeaderTransformation}`);
  }
  if (hcm.originalIpDetectionExtensions.length > 0 || hcm.earlyHeaderMutationExtensions.length > 0) {
    throw new ConfigError("", "connection manager extensions are not supported by the gateway");
  }
  const ms = (d: Parameters<typeof durationMs>[0] | undefined, fallback: number) =>
    d ? durationMs(d) : fallback;
  return {
    routes,
    filters,
    normalizePath: hcm.normalizePath ?? false,
    mergeSlashes: hcm.mergeSlashes,
    escapedSlashes: action,
    useRemoteAddress: hcm.useRemoteAddress ?? false,
    xffNumTrustedHops: hcm.xffNumTrustedHops,
    skipXffAppend: hcm.skipXffAppend,
    via: hcm.via,
    serverName: hcm.serverName || "envoy",
    serverHeader,
    stripAnyHostPort: hcm.stripPortMode.case === "stripAnyHostPort" && hcm.stripPortMode.value,
    stripTrailingHostDot: hcm.stripTrailingHostDot,
    localReplies: within("local_reply_config", () =>
      compileLocalReplyConfig(hcm.localReplyConfig, maxProgramSize),
    ),
    requestTimeoutMs: ms(hcm.requestTimeout, 0),
    streamIdleTimeoutMs: ms(hcm.streamIdleTimeout, defaultStreamIdleTimeoutMs),
    maxRequestHeadersKb: hcm.maxRequestHeadersKb ?? defaultMaxRequestHeadersKb,
    generateRequestId: hcm.generateRequestId ?? true,
    preserveExternalRequestId: hcm.preserveExternalRequestId,
    alwaysSetRequestIdInResponse: hcm.alwaysSetRequestIdInResponse,
  };
}

/**
 * The HTTP filters: unique names, the router last and only last (Envoy's
 * rule), each compiled by the factory; an unknown filter is refused unless
 * `is_optional`.
 */
function compileFilters(hcm: HttpConnectionManager, factory: HttpFilterFactory): CompiledHttpFilter[] {
  const names = new Set<string>();
  const out: CompiledHttpFilter[] = [];
  for (const [i, filter] of hcm.httpFilters.entries()) {
    within(`http_filters[${i}]`, () => {
      if (filter.name === "") throw new ConfigError("name", "an HTTP filter needs a name");
      if (names.has(filter.name))
        throw new ConfigError("name", `${JSON.stringify(filter.name)} is listed twice`);
      names.add(filter.name);
      if (filter.configType.case === "configDiscovery") {
        throw new ConfigError(
          "config_discovery",
          "filter config discovery (ECDS) is not supported by the gateway",
        );
      }
      const config = filter.configType.value;
      const last = i === hcm.httpFilters.length - 1;
      if (config?.typeUrl === ROUTER_TYPE_URL) {
        if (!last) throw new ConfigError("", "the router filter must be the last HTTP filter");
        return;
      }
      if (last)
        throw new ConfigError(
          "",
          `the last HTTP filter must be the router, not ${config?.typeUrl ?? filter.name}`,
        );
      if (!config) throw new ConfigError("typed_config", "is required");
      const compiled = factory.compileFilter(filter.name, config, filter.isOptional);
      if (compiled) out.push({ ...compiled, disabled: filter.disabled });
    });
  }
  if (hcm.httpFilters.length === 0) throw new ConfigError("http_filters", "needs the router filter (last)");
  return out;
}
