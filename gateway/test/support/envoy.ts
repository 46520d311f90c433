/**
 * Builders for Envoy v3 resources in tests: plain protobuf-es messages, the
 * same ones an xDS server sends.
 */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  type Cluster,
  Cluster_DiscoveryType,
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  type HttpConnectionManager,
  HttpConnectionManagerSchema,
  type HttpFilter,
  HttpFilterSchema,
  type Listener,
  ListenerSchema,
  type RdsSchema,
  type RouteConfiguration,
  RouteConfigurationSchema,
  RouterSchema,
} from "@dispatch/proto/envoy";
import { createHttpFilterFactory } from "../../src/filters/http-filters.js";
import { createRequestView, type RequestView } from "../../src/route-table/request.js";
import { createResourceCompiler } from "../../src/route-table/resource-compiler.js";
import { compileRouteConfiguration, type RouteTable } from "../../src/route-table/route-table.js";

export const factory = createHttpFilterFactory();
export const compiler = createResourceCompiler({ factory });

/** A RouteConfiguration message. */
export function routeConfig(init: MessageInitShape<typeof RouteConfigurationSchema>): RouteConfiguration {
  return create(RouteConfigurationSchema, init);
}

/** A compiled route table. */
export function routes(init: MessageInitShape<typeof RouteConfigurationSchema>): RouteTable {
  return compileRouteConfiguration(routeConfig(init), { factory });
}

/** A request view: `request("GET", "http://host/path?q", { header: value })`. */
export function request(method: string, url: string, headers: Record<string, string> = {}): RequestView {
  const parsed = new URL(url);
  return createRequestView({
    method,
    path: parsed.pathname + parsed.search,
    authority: parsed.host,
    scheme: parsed.protocol === "https:" ? "https" : "http",
    headers: Object.entries(headers),
  });
}

/** An HTTP filter with its typed config. */
export function httpFilter<Desc extends DescMessage>(
  name: string,
  schema: Desc,
  init: MessageInitShape<Desc>,
  extra: Partial<Pick<HttpFilter, "isOptional" | "disabled">> = {},
): HttpFilter {
  return create(HttpFilterSchema, {
    name,
    configType: { case: "typedConfig", value: anyPack(schema, create(schema, init)) },
    ...extra,
  });
}

export const routerFilter = (): HttpFilter => httpFilter("envoy.filters.http.router", RouterSchema, {});

/** A listener with one filter chain holding an HTTP connection manager. */
export function listener(
  name: string,
  hcm: MessageInitShape<typeof HttpConnectionManagerSchema>,
  extra: MessageInitShape<typeof ListenerSchema> = {},
): Listener {
  const manager: HttpConnectionManager = create(HttpConnectionManagerSchema, {
    statPrefix: name,
    httpFilters: [routerFilter()],
    ...(hcm as object),
  } as MessageInitShape<typeof HttpConnectionManagerSchema>);
  return create(ListenerSchema, {
    name,
    address: {
      address: {
        case: "socketAddress",
        value: { address: "0.0.0.0", portSpecifier: { case: "portValue", value: 8080 } },
      },
    },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, manager) },
          },
        ],
      },
    ],
    ...(extra as object),
  } as MessageInitShape<typeof ListenerSchema>);
}

/** The connection manager's routes come by RDS over ADS. */
export function rds(routeConfigName: string): { case: "rds"; value: MessageInitShape<typeof RdsSchema> } {
  return {
    case: "rds",
    value: { routeConfigName, configSource: { configSourceSpecifier: { case: "ads", value: {} } } },
  };
}

/** An EDS cluster over ADS. */
export function edsCluster(name: string, extra: MessageInitShape<typeof ClusterSchema> = {}): Cluster {
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: { configSourceSpecifier: { case: "ads", value: {} } } },
    connectTimeout: durationFromMs(5_000),
    ...(extra as object),
  } as MessageInitShape<typeof ClusterSchema>);
}

/** A STATIC cluster with inline endpoints. */
export function staticCluster(name: string, endpoints: readonly (readonly [string, number])[]): Cluster {
  return create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.STATIC },
    loadAssignment: loadAssignment(name, endpoints),
  });
}

/** A ClusterLoadAssignment with one locality. */
export function loadAssignment(
  name: string,
  endpoints: readonly (readonly [string, number])[],
): ClusterLoadAssignment {
  return create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [
      {
        lbEndpoints: endpoints.map(([host, port]) => ({
          hostIdentifier: {
            case: "endpoint" as const,
            value: {
              address: {
                address: {
                  case: "socketAddress" as const,
                  value: { address: host, portSpecifier: { case: "portValue" as const, value: port } },
                },
              },
            },
          },
        })),
      },
    ],
  });
}

/** A route that forwards a path prefix to a cluster. */
export function prefixRoute(prefix: string, cluster: string, extra: Record<string, unknown> = {}) {
  return {
    match: { pathSpecifier: { case: "prefix" as const, value: prefix } },
    action: {
      case: "route" as const,
      value: { clusterSpecifier: { case: "cluster" as const, value: cluster } },
    },
    ...extra,
  };
}

export { durationFromMs };
