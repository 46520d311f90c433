import { isIP } from "node:net";
import { create } from "@bufbuild/protobuf";
import { anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  type Cluster,
  Cluster_DiscoveryType,
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  LbEndpointSchema,
  UpstreamTlsContextSchema,
} from "@dispatch/proto/envoy";
import type { FunctionClusterIR, JwksClusterIR } from "../ir/ir.js";
import { adsConfigSource, envoyEnum, socketAddress } from "./envoy-common.js";

/** The metadata namespace Dispatch writes on endpoints: `{"activator": true}` marks the activator. */
export const metadataNamespace = "dispatch";

const leastRequest = envoyEnum("envoy.config.cluster.v3.Cluster.LbPolicy", "LEAST_REQUEST");
const v4Preferred = envoyEnum("envoy.config.cluster.v3.Cluster.DnsLookupFamily", "V4_PREFERRED");
const sanDns = envoyEnum("envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType", "DNS");
const sanIp = envoyEnum(
  "envoy.extensions.transport_sockets.tls.v3.SubjectAltNameMatcher.SanType",
  "IP_ADDRESS",
);

/**
 * A function's cluster: EDS over ADS, so where its calls go (instances or the
 * activator) changes only its ClusterLoadAssignment. Least-request balancing
 * favours the instance with the fewest calls in flight; an instance removed
 * from EDS stops taking calls at once, health checks or not.
 */
export function functionCluster(ir: FunctionClusterIR): Cluster {
  return create(ClusterSchema, {
    name: ir.name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: adsConfigSource(), serviceName: ir.name },
    connectTimeout: durationFromMs(ir.connectTimeoutMs),
    lbPolicy: leastRequest,
    ignoreHealthOnHostRemoval: true,
  });
}

/** Where a function's calls go now: its instances, or the activator (marked in endpoint metadata). */
export function functionLoadAssignment(ir: FunctionClusterIR): ClusterLoadAssignment {
  return create(ClusterLoadAssignmentSchema, {
    clusterName: ir.name,
    endpoints: [
      {
        // gRPC clients refuse a locality that is not set and skip one without a
        // weight; Envoy ignores both here.
        locality: {},
        loadBalancingWeight: 1,
        lbEndpoints: ir.endpoints.map((address) =>
          create(LbEndpointSchema, {
            hostIdentifier: { case: "endpoint", value: { address: socketAddress(address) } },
            ...(ir.activator
              ? { metadata: { filterMetadata: { [metadataNamespace]: { activator: true } } } }
              : {}),
          }),
        ),
      },
    ],
  });
}

/**
 * An upstream for fetching JWKS documents: resolved by DNS (a static address
 * for an IP), with TLS for https that checks the server's certificate against
 * the system's roots and its name.
 */
export function jwksCluster(ir: JwksClusterIR): Cluster {
  const ip = isIP(ir.host) !== 0;
  return create(ClusterSchema, {
    name: ir.name,
    clusterDiscoveryType: {
      case: "type",
      value: ip ? Cluster_DiscoveryType.STATIC : Cluster_DiscoveryType.LOGICAL_DNS,
    },
    connectTimeout: durationFromMs(ir.connectTimeoutMs),
    ...(ip ? {} : { dnsLookupFamily: v4Preferred }),
    loadAssignment: {
      clusterName: ir.name,
      endpoints: [
        { lbEndpoints: [{ hostIdentifier: { case: "endpoint", value: { address: socketAddress(ir) } } }] },
      ],
    },
    ...(ir.tls
      ? {
          transportSocket: {
            name: "envoy.transport_sockets.tls",
            configType: {
              case: "typedConfig",
              value: anyPack(
                UpstreamTlsContextSchema,
                create(UpstreamTlsContextSchema, {
                  ...(ip ? {} : { sni: ir.host }),
                  commonTlsContext: {
                    validationContextType: {
                      case: "validationContext",
                      value: {
                        systemRootCerts: {},
                        matchTypedSubjectAltNames: [
                          {
                            sanType: ip ? sanIp : sanDns,
                            matcher: { matchPattern: { case: "exact", value: ir.host } },
                          },
                        ],
                      },
                    },
                  },
                }),
              ),
            },
          },
        }
      : {}),
  });
}
