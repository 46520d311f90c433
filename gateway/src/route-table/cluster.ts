import { anyUnpack, durationMs } from "@bufbuild/protobuf/wkt";
import {
  type Cluster,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  type ConfigSource,
  type DataSource,
  UPSTREAM_TLS_CONTEXT_TYPE_URL,
  UpstreamTlsContextSchema,
} from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import { compileLoadAssignment, type EndpointSet, type LbPolicy } from "./endpoints.js";
import { envoyEnum } from "./envoy-enum.js";
import { compileStringMatcher, type StringMatch } from "./string-matcher.js";

/** Envoy's default connect timeout: 5 s. */
export const defaultConnectTimeoutMs = 5_000;
/** Envoy's default upstream idle timeout (`common_http_protocol_options.idle_timeout`): 1 h. */
export const defaultUpstreamIdleTimeoutMs = 3_600_000;
/** Envoy's default circuit breaker thresholds: 1024 connections, 1024 requests in flight. */
export const defaultCircuitBreakerLimit = 1024;

/** TLS to the upstream (`envoy.transport_sockets.tls` with an UpstreamTlsContext). */
export interface UpstreamTls {
  readonly servername: string | undefined;
  /** Whether the server's certificate is verified (Envoy verifies only with a validation context). */
  readonly verify: boolean;
  /** PEM CA bundle; undefined with `verify`: the system's roots. */
  readonly ca: string | undefined;
  /** The certificate's subject alt names must match one of these (when any are given). */
  readonly subjectAltNames: readonly {
    readonly type: "dns" | "ip" | "uri" | "email";
    readonly match: StringMatch;
  }[];
  readonly certificate: { readonly cert: string; readonly key: string } | undefined;
}

/** A compiled Cluster. */
export interface CompiledCluster {
  readonly name: string;
  readonly discovery: "static" | "dns" | "eds";
  /** The ClusterLoadAssignment name its endpoints come under (EDS clusters). */
  readonly edsServiceName: string | undefined;
  /** The hosts of a STATIC or DNS cluster (from its inline `load_assignment`). */
  readonly inlineEndpoints: EndpointSet | undefined;
  readonly lbPolicy: LbPolicy;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Circuit breakers (default priority): connections and requests in flight. */
  readonly maxConnections: number;
  readonly maxRequests: number;
  readonly tls: UpstreamTls | undefined;
}

const sanTypes = {
  [envoyEnum("envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType", "DNS")]: "dns",
  [envoyEnum("envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType", "IP_ADDRESS")]: "ip",
  [envoyEnum("envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType", "URI")]: "uri",
  [envoyEnum("envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType", "EMAIL")]: "email",
} as Record<number, "dns" | "ip" | "uri" | "email">;

/**
 * Compiles a Cluster. The gateway speaks HTTP/1.1 to upstreams over TCP (TLS
 * optional); it takes STATIC, STRICT_DNS/LOGICAL_DNS (host names resolved when
 * connecting) and EDS clusters (endpoints over the same ADS stream), balanced
 * round robin, random or least-request. Ring hash and Maglev have no hash
 * policy to honour here and are balanced round robin.
 */
export function compileCluster(cluster: Cluster, maxProgramSize: number): CompiledCluster {
  if (cluster.name === "") throw new ConfigError("name", "a cluster needs a name");
  const type = cluster.clusterDiscoveryType;
  if (type.case === "clusterType") {
    throw new ConfigError(
      "cluster_type",
      `custom cluster types (${type.value.name}) are not supported by the gateway`,
    );
  }
  const discoveryType = type.case === "type" ? type.value : Cluster_DiscoveryType.STATIC;
  let discovery: CompiledCluster["discovery"];
  let edsServiceName: string | undefined;
  let inlineEndpoints: EndpointSet | undefined;
  switch (discoveryType) {
    case Cluster_DiscoveryType.STATIC:
    case Cluster_DiscoveryType.STRICT_DNS:
    case Cluster_DiscoveryType.LOGICAL_DNS: {
      discovery = discoveryType === Cluster_DiscoveryType.STATIC ? "static" : "dns";
      const cla = cluster.loadAssignment;
      inlineEndpoints = cla ? within("load_assignment", () => compileLoadAssignment(cla)) : undefined;
      break;
    }
    case Cluster_DiscoveryType.EDS: {
      discovery = "eds";
      const eds = cluster.edsClusterConfig;
      if (!eds) throw new ConfigError("eds_cluster_config", "is required for an EDS cluster");
      checkAdsSource(eds.edsConfig, "eds_cluster_config.eds_config");
      edsServiceName = eds.serviceName !== "" ? eds.serviceName : cluster.name;
      break;
    }
    default:
      throw new ConfigError("type", `cluster type ${discoveryType} is not supported by the gateway`);
  }
  const thresholds = cluster.circuitBreakers?.thresholds.find((t) => t.priority === 0);
  return {
    name: cluster.name,
    discovery,
    edsServiceName,
    inlineEndpoints,
    lbPolicy: lbPolicyOf(cluster.lbPolicy),
    connectTimeoutMs: cluster.connectTimeout ? durationMs(cluster.connectTimeout) : defaultConnectTimeoutMs,
    idleTimeoutMs: cluster.commonHttpProtocolOptions?.idleTimeout
      ? durationMs(cluster.commonHttpProtocolOptions.idleTimeout)
      : defaultUpstreamIdleTimeoutMs,
    maxConnections: thresholds?.maxConnections ?? defaultCircuitBreakerLimit,
    maxRequests: thresholds?.maxRequests ?? defaultCircuitBreakerLimit,
    tls: compileTransportSocket(cluster, maxProgramSize),
  };
}

function lbPolicyOf(policy: Cluster_LbPolicy): LbPolicy {
  switch (policy) {
    case Cluster_LbPolicy.RANDOM:
      return "random";
    case Cluster_LbPolicy.LEAST_REQUEST:
      return "least-request";
    default:
      return "round-robin";
  }
}

/** The gateway has one xDS stream: a resource's dependencies must come over it. */
export function checkAdsSource(source: ConfigSource | undefined, path: string): void {
  const kind = source?.configSourceSpecifier.case;
  if (kind !== "ads" && kind !== "self") {
    throw new ConfigError(
      path,
      `must be ads (or self): the gateway receives everything over its one ADS stream, not ${kind ?? "nothing"}`,
    );
  }
}

function compileTransportSocket(cluster: Cluster, maxProgramSize: number): UpstreamTls | undefined {
  if (cluster.transportSocketMatches.length > 0) {
    throw new ConfigError("transport_socket_matches", "are not supported by the gateway");
  }
  const socket = cluster.transportSocket;
  if (!socket) return undefined;
  const config = socket.configType.case === "typedConfig" ? socket.configType.value : undefined;
  if (socket.name === "envoy.transport_sockets.raw_buffer" && !config) return undefined;
  if (!config || config.typeUrl !== UPSTREAM_TLS_CONTEXT_TYPE_URL) {
    throw new ConfigError(
      "transport_socket",
      `only envoy.transport_sockets.tls with an UpstreamTlsContext is supported, not ${config?.typeUrl ?? socket.name}`,
    );
  }
  return within("transport_socket.typed_config", () => {
    const tls = anyUnpack(config, UpstreamTlsContextSchema);
    if (!tls) throw new ConfigError("", "cannot decode the UpstreamTlsContext");
    const common = tls.commonTlsContext;
    const validation = common?.validationContextType;
    if (
      validation?.case === "validationContextSdsSecretConfig" ||
      (common?.tlsCertificateSdsSecretConfigs.length ?? 0) > 0
    ) {
      throw new ConfigError(
        "common_tls_context",
        "SDS secrets are not supported by the gateway (inline them)",
      );
    }
    if (validation?.case !== undefined && validation.case !== "validationContext") {
      throw new ConfigError("common_tls_context", `${validation.case} is not supported by the gateway`);
    }
    const context = validation?.case === "validationContext" ? validation.value : undefined;
    const [certificate, ...more] = common?.tlsCertificates ?? [];
    if (more.length > 0)
      throw new ConfigError("common_tls_context.tls_certificates", "at most one is supported");
    return {
      servername: tls.sni === "" ? undefined : tls.sni,
      verify: context !== undefined,
      ca: context?.trustedCa
        ? inline(context.trustedCa, "common_tls_context.validation_context.trusted_ca")
        : undefined,
      subjectAltNames: (context?.matchTypedSubjectAltNames ?? []).map((m, i) =>
        within(`common_tls_context.validation_context.match_typed_subject_alt_names[${i}]`, () => {
          const type = sanTypes[m.sanType];
          if (!type) throw new ConfigError("san_type", "must be DNS, IP_ADDRESS, URI or EMAIL");
          if (!m.matcher) throw new ConfigError("matcher", "is required");
          return { type, match: compileStringMatcher(m.matcher, maxProgramSize) };
        }),
      ),
      certificate: certificate
        ? {
            cert: inline(
              certificate.certificateChain,
              "common_tls_context.tls_certificates[0].certificate_chain",
            ),
            key: inline(certificate.privateKey, "common_tls_context.tls_certificates[0].private_key"),
          }
        : undefined,
    };
  });
}

function inline(source: DataSource | undefined, path: string): string {
  switch (source?.specifier.case) {
    case "inlineString":
      return source.specifier.value;
    case "inlineBytes":
      return Buffer.from(source.specifier.value).toString("utf8");
    default:
      throw new ConfigError(
        path,
        "must be inline (inline_string or inline_bytes): the gateway reads no files",
      );
  }
}
