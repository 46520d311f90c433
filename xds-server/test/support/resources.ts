import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import {
  ApiVersion,
  CLUSTER_TYPE_URL,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  ENDPOINT_TYPE_URL,
  HttpConnectionManagerSchema,
  LISTENER_TYPE_URL,
  ListenerSchema,
  ROUTE_TYPE_URL,
  RouteConfigurationSchema,
  RouterSchema,
} from "@dispatch/proto/envoy";
import type { ResourceInput } from "../../src/index.js";

// Small hand-built xDS resources for protocol tests: a listener naming a route
// configuration, routes naming clusters, EDS clusters naming load assignments.
// Shaped as gRPC clients need them (an API listener, ROUND_ROBIN, a weighted locality).

const ads = { configSourceSpecifier: { case: "ads" as const, value: {} }, resourceApiVersion: ApiVersion.V3 };

/** A listener whose HTTP connection manager takes `routeConfig` by RDS (as an API listener, for gRPC clients too). */
export function listener(name: string, routeConfig: string): ResourceInput {
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: "test",
    routeSpecifier: { case: "rds", value: { configSource: ads, routeConfigName: routeConfig } },
    httpFilters: [
      {
        name: "envoy.filters.http.router",
        configType: { case: "typedConfig", value: anyPack(RouterSchema, create(RouterSchema)) },
      },
    ],
  });
  return {
    typeUrl: LISTENER_TYPE_URL,
    name,
    schema: ListenerSchema,
    message: create(ListenerSchema, {
      name,
      apiListener: { apiListener: anyPack(HttpConnectionManagerSchema, hcm) },
    }),
  };
}

/** A route configuration with one virtual host for `domains` and a catch-all route split over `clusters` by weight. */
export function routes(name: string, clusters: Record<string, number>, domains = ["*"]): ResourceInput {
  const entries = Object.entries(clusters);
  const [only] = entries;
  return {
    typeUrl: ROUTE_TYPE_URL,
    name,
    schema: RouteConfigurationSchema,
    message: create(RouteConfigurationSchema, {
      name,
      virtualHosts: [
        {
          name: "all",
          domains,
          routes: [
            {
              match: { pathSpecifier: { case: "prefix", value: "" } },
              action: {
                case: "route",
                value: {
                  clusterSpecifier:
                    entries.length === 1 && only
                      ? { case: "cluster", value: only[0] }
                      : {
                          case: "weightedClusters",
                          value: { clusters: entries.map(([c, weight]) => ({ name: c, weight })) },
                        },
                },
              },
            },
          ],
        },
      ],
    }),
  };
}

/** An EDS cluster over ADS, round robin. */
export function cluster(name: string, connectTimeoutSeconds = 5): ResourceInput {
  return {
    typeUrl: CLUSTER_TYPE_URL,
    name,
    schema: ClusterSchema,
    message: create(ClusterSchema, {
      name,
      clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
      edsClusterConfig: { edsConfig: ads },
      lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
      connectTimeout: { seconds: BigInt(connectTimeoutSeconds) },
    }),
  };
}

/** The load assignment of cluster `name`: these ports on 127.0.0.1. */
export function endpoints(name: string, ports: number[]): ResourceInput {
  return {
    typeUrl: ENDPOINT_TYPE_URL,
    name,
    schema: ClusterLoadAssignmentSchema,
    message: create(ClusterLoadAssignmentSchema, {
      clusterName: name,
      endpoints: [
        {
          locality: {},
          loadBalancingWeight: 1,
          lbEndpoints: ports.map((port) => ({
            hostIdentifier: {
              case: "endpoint" as const,
              value: {
                address: {
                  address: {
                    case: "socketAddress" as const,
                    value: {
                      address: "127.0.0.1",
                      portSpecifier: { case: "portValue" as const, value: port },
                    },
                  },
                },
              },
            },
          })),
        },
      ],
    }),
  };
}
