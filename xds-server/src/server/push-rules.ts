import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import type { CachedResource } from "../cache/cached-resource.js";
import type { SnapshotCache } from "../cache/snapshot-cache.js";
import type { ClientView } from "./session-types.js";
import { covers } from "./subscription.js";

/**
 * xds_protocol "Eventual consistency considerations": clusters, then their
 * endpoints, then listeners, then routes; other types after, by URL.
 */
export const pushOrder: readonly string[] = [
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
];

/** The type URLs in push order. */
export function inPushOrder(typeUrls: Iterable<string>): string[] {
  const rank = (t: string) => {
    const i = pushOrder.indexOf(t);
    return i === -1 ? pushOrder.length : i;
  };
  return [...typeUrls].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Whether `resource` may be sent to the client now. Routes are not warmed by
 * a proxy (xds_protocol "Resource warming"): a route configuration waits until
 * every cluster it sends to, that the client gets from us, has been answered
 * by the client, and, if the client accepted it and gets endpoints from us,
 * its load assignment too. A client that does not subscribe to a cluster
 * (a gRPC client learns clusters from routes) is not waited for.
 */
export function mayPush(view: ClientView, cache: SnapshotCache, resource: CachedResource): boolean {
  if (resource.typeUrl !== ROUTE_TYPE_URL) return true;
  // What every cluster is checked against, read once (a route configuration may name thousands).
  const clusters: ClusterContext = {
    sub: view.subscription(CLUSTER_TYPE_URL),
    acked: view.acked(CLUSTER_TYPE_URL),
    endpointsSubscribed: view.subscription(ENDPOINT_TYPE_URL) !== undefined,
    endpointsAcked: view.acked(ENDPOINT_TYPE_URL),
  };
  for (const ref of resource.references) {
    if (ref.typeUrl === CLUSTER_TYPE_URL && !clusterSettled(view, cache, clusters, ref.name)) return false;
  }
  return true;
}

interface ClusterContext {
  sub: ReturnType<ClientView["subscription"]>;
  acked: ReturnType<ClientView["acked"]>;
  endpointsSubscribed: boolean;
  endpointsAcked: ReturnType<ClientView["acked"]>;
}

function clusterSettled(view: ClientView, cache: SnapshotCache, ctx: ClusterContext, name: string): boolean {
  const cluster = cache.resource(CLUSTER_TYPE_URL, name);
  if (!ctx.sub || !cluster || !covers(ctx.sub, name)) return true;
  if (!ctx.acked?.has(name)) {
    // Refused: waiting would never end, and the proxy keeps its old routes anyway.
    return view.answered(CLUSTER_TYPE_URL, name) === cluster.version;
  }
  if (!ctx.endpointsSubscribed) return true;
  for (const ref of cluster.references) {
    if (ref.typeUrl !== ENDPOINT_TYPE_URL) continue;
    const assignment = cache.resource(ENDPOINT_TYPE_URL, ref.name);
    if (!assignment || ctx.endpointsAcked?.has(ref.name)) continue;
    if (view.answered(ENDPOINT_TYPE_URL, ref.name) !== assignment.version) return false;
  }
  return true;
}

/**
 * Everything the client holds (or is being sent) names, as `type\nname`
 * keys: a resource still named may not be removed yet (make before break).
 */
export function heldReferences(view: ClientView, typeUrls: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const typeUrl of typeUrls) {
    for (const held of [...(view.acked(typeUrl)?.values() ?? []), ...view.inFlight(typeUrl)]) {
      for (const ref of held.references) out.add(refKey(ref.typeUrl, ref.name));
    }
  }
  return out;
}

/** The key of a reference in {@link heldReferences}. */
export function refKey(typeUrl: string, name: string): string {
  return `${typeUrl}\n${name}`;
}
