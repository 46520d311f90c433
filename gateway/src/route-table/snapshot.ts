import type { CompiledCluster } from "./cluster.js";
import { type EndpointSet, noEndpoints } from "./endpoints.js";
import type { CompiledListener, ConnectionManager } from "./listener.js";
import type { RouteTable } from "./route-table.js";

/** A cluster and the hosts it sends to now. */
export interface ResolvedCluster {
  readonly cluster: CompiledCluster;
  readonly endpoints: EndpointSet;
}

/**
 * One complete, immutable configuration: what a request is served with from
 * start to end. The xDS client swaps snapshots atomically; a request that
 * started on one keeps it, whatever arrives meanwhile.
 */
export interface GatewaySnapshot {
  /** Increases with every swap (0: the empty snapshot before any config). */
  readonly generation: number;
  /** The listener this gateway serves, if the server has sent one. */
  readonly listener: CompiledListener | undefined;
  readonly routeTables: ReadonlyMap<string, RouteTable>;
  readonly clusters: ReadonlyMap<string, ResolvedCluster>;
}

/** The snapshot before any configuration: every request is answered 503. */
export const emptySnapshot: GatewaySnapshot = {
  generation: 0,
  listener: undefined,
  routeTables: new Map(),
  clusters: new Map(),
};

/** What a snapshot is assembled from: every accepted resource, compiled. */
export interface CompiledResources {
  readonly listeners: ReadonlyMap<string, CompiledListener>;
  readonly routeTables: ReadonlyMap<string, RouteTable>;
  readonly clusters: ReadonlyMap<string, CompiledCluster>;
  readonly loadAssignments: ReadonlyMap<string, EndpointSet>;
}

/**
 * Assembles a snapshot. The gateway serves one listener: `listenerName` when
 * given, else the only one, else the first by name.
 */
export function assembleSnapshot(
  resources: CompiledResources,
  generation: number,
  listenerName: string | undefined,
): GatewaySnapshot {
  const listener = chooseListener(resources.listeners, listenerName);
  const clusters = new Map<string, ResolvedCluster>();
  for (const [name, cluster] of resources.clusters) {
    const endpoints =
      cluster.discovery === "eds"
        ? (resources.loadAssignments.get(cluster.edsServiceName ?? name) ?? noEndpoints)
        : (cluster.inlineEndpoints ?? noEndpoints);
    clusters.set(name, { cluster, endpoints });
  }
  return { generation, listener, routeTables: resources.routeTables, clusters };
}

/** The listener a gateway serves among those it received. */
export function chooseListener(
  listeners: ReadonlyMap<string, CompiledListener>,
  listenerName: string | undefined,
): CompiledListener | undefined {
  if (listenerName !== undefined) return listeners.get(listenerName);
  const first = [...listeners.keys()].sort()[0];
  return first === undefined ? undefined : listeners.get(first);
}

/** The route table a connection manager uses in this snapshot. */
export function routeTableOf(snapshot: GatewaySnapshot, manager: ConnectionManager): RouteTable | undefined {
  return manager.routes.kind === "inline"
    ? manager.routes.table
    : snapshot.routeTables.get(manager.routes.name);
}

/** The clusters a route table can send to by name (clusters chosen from a header are not known in advance). */
export function clustersOfRouteTable(table: RouteTable): string[] {
  const names = new Set<string>();
  for (const vh of table.virtualHosts) {
    for (const route of vh.routes) {
      if (route.action.kind !== "forward") continue;
      const choice = route.action.clusters;
      if (choice.kind === "single") {
        if ("name" in choice.target) names.add(choice.target.name);
      } else {
        for (const entry of choice.entries) if ("name" in entry.target) names.add(entry.target.name);
      }
    }
  }
  return [...names];
}

/** The clusters a listener's connection managers name (inline routes and filters such as JWT). */
export function clustersOfListener(listener: CompiledListener): string[] {
  const names = new Set<string>();
  for (const tls of [false, true]) {
    const manager = listener.connectionManager(tls);
    if (!manager) continue;
    for (const filter of manager.filters) for (const c of filter.clusters) names.add(c);
    if (manager.routes.kind === "inline")
      for (const c of clustersOfRouteTable(manager.routes.table)) names.add(c);
  }
  return [...names];
}
