import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from "@dispatch/proto/envoy";
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import type { IngressIR } from "../ir/ir.js";
import { functionCluster, functionLoadAssignment, jwksCluster } from "./envoy-clusters.js";
import { translateListener } from "./envoy-listener.js";
import { translateRoutes } from "./envoy-routes.js";
import type { TranslationMemo } from "./memo.js";

/** Envoy v3 resources for one IR, each list sorted by name, and which endpoint each part came from. */
export interface EnvoyResources {
  listeners: Listener[];
  routeConfigurations: RouteConfiguration[];
  clusters: Cluster[];
  clusterLoadAssignments: ClusterLoadAssignment[];
  owners: ResourceOwner[];
}

/**
 * A part of a resource and the endpoints it serves: a problem found at `path`
 * (or below it) is that of these endpoints. `path` is a field path in proto
 * names, as the validator reports it (`virtual_hosts[0].routes[3]`); "" is the
 * whole resource.
 */
export interface ResourceOwner {
  typeUrl: string;
  name: string;
  path: string;
  endpoints: string[];
}

/**
 * Translates the IR into Envoy resources: the listener (LDS), its route
 * configuration (RDS), a cluster per function and per JWKS origin (CDS), and a
 * load assignment per function cluster (EDS). Pure: the same IR gives the same
 * messages, and so the same bytes.
 */
export function translateIrToEnvoy(ir: IngressIR, memo?: TranslationMemo): EnvoyResources {
  const owners: ResourceOwner[] = [];
  const { listener, owners: listenerOwners } = translateListener(ir);
  for (const [path, provider] of listenerOwners.providers) {
    const endpoint = ir.jwtProviders.find((p) => p.name === provider)?.endpoint;
    if (endpoint)
      owners.push({ typeUrl: LISTENER_TYPE_URL, name: listener.name, path, endpoints: [endpoint] });
  }
  const { routeConfiguration, owners: routeOwners } = translateRoutes(ir, memo);
  for (const [path, endpoint] of routeOwners.routes) {
    owners.push({ typeUrl: ROUTE_TYPE_URL, name: routeConfiguration.name, path, endpoints: [endpoint] });
  }
  const clusters: Cluster[] = [];
  const loadAssignments: ClusterLoadAssignment[] = [];
  for (const fn of ir.clusters) {
    // Everything but the endpoints that use it makes the messages: kept by that content.
    const { usedBy: _usedBy, ...content } = fn;
    const key = JSON.stringify(content);
    clusters.push(memo ? memo.byContent(`cluster ${key}`, () => functionCluster(fn)) : functionCluster(fn));
    loadAssignments.push(
      memo
        ? memo.byContent(`assignment ${key}`, () => functionLoadAssignment(fn))
        : functionLoadAssignment(fn),
    );
    owners.push({ typeUrl: CLUSTER_TYPE_URL, name: fn.name, path: "", endpoints: fn.usedBy });
    owners.push({ typeUrl: ENDPOINT_TYPE_URL, name: fn.name, path: "", endpoints: fn.usedBy });
  }
  for (const jwks of ir.jwksClusters) {
    clusters.push(jwksCluster(jwks));
    owners.push({ typeUrl: CLUSTER_TYPE_URL, name: jwks.name, path: "", endpoints: jwks.usedBy });
  }
  clusters.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    listeners: [listener],
    routeConfigurations: [routeConfiguration],
    clusters,
    clusterLoadAssignments: loadAssignments,
    owners,
  };
}
