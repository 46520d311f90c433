import type { Message } from "@bufbuild/protobuf";
import { anyIs, anyUnpack } from "@bufbuild/protobuf/wkt";
import {
  CLUSTER_TYPE_URL,
  type Cluster,
  Cluster_DiscoveryType,
  ENDPOINT_TYPE_URL,
  type HttpConnectionManager,
  HttpConnectionManagerSchema,
  LISTENER_TYPE_URL,
  type Listener,
  ROUTE_TYPE_URL,
  type RouteConfiguration,
} from "@dispatch/proto/envoy";

/** A resource another one names: a listener its route configuration, a route its clusters, a cluster its endpoints. */
export interface ResourceRef {
  typeUrl: string;
  name: string;
}

/**
 * What a resource names in other resource types, read from the resource
 * itself. The server uses it to push in dependency order (a route only after
 * the clusters it sends to) and to remove a resource only when nothing a
 * client holds still names it.
 */
export function referencesOf(typeUrl: string, message: Message): ResourceRef[] {
  switch (typeUrl) {
    case LISTENER_TYPE_URL:
      return listenerRefs(message as Listener);
    case ROUTE_TYPE_URL:
      return routeRefs(message as RouteConfiguration);
    case CLUSTER_TYPE_URL:
      return clusterRefs(message as Cluster);
    default:
      return [];
  }
}

function listenerRefs(listener: Listener): ResourceRef[] {
  const names = new Set<string>();
  const add = (hcm: HttpConnectionManager | undefined) => {
    if (hcm?.routeSpecifier.case === "rds" && hcm.routeSpecifier.value.routeConfigName !== "") {
      names.add(hcm.routeSpecifier.value.routeConfigName);
    }
  };
  const chains = [
    ...listener.filterChains,
    ...(listener.defaultFilterChain ? [listener.defaultFilterChain] : []),
  ];
  for (const chain of chains) {
    for (const filter of chain.filters) {
      if (
        filter.configType.case === "typedConfig" &&
        anyIs(filter.configType.value, HttpConnectionManagerSchema)
      ) {
        add(anyUnpack(filter.configType.value, HttpConnectionManagerSchema));
      }
    }
  }
  const api = listener.apiListener?.apiListener;
  if (api && anyIs(api, HttpConnectionManagerSchema)) add(anyUnpack(api, HttpConnectionManagerSchema));
  return [...names].sort().map((name) => ({ typeUrl: ROUTE_TYPE_URL, name }));
}

function routeRefs(config: RouteConfiguration): ResourceRef[] {
  const names = new Set<string>();
  for (const vh of config.virtualHosts) {
    for (const route of vh.routes) {
      if (route.action.case !== "route") continue;
      const spec = route.action.value.clusterSpecifier;
      if (spec.case === "cluster") names.add(spec.value);
      else if (spec.case === "weightedClusters") for (const c of spec.value.clusters) names.add(c.name);
    }
  }
  return [...names].sort().map((name) => ({ typeUrl: CLUSTER_TYPE_URL, name }));
}

function clusterRefs(cluster: Cluster): ResourceRef[] {
  const eds =
    cluster.clusterDiscoveryType.case === "type" &&
    cluster.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS;
  if (!eds) return [];
  // xds_protocol: the load assignment is named by service_name, else by the cluster's name.
  return [{ typeUrl: ENDPOINT_TYPE_URL, name: cluster.edsClusterConfig?.serviceName || cluster.name }];
}
