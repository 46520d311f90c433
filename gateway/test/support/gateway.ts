/** Test scaffolding: a gateway wired to an ADS responder, and Envoy configs for it. */
import {
  CLUSTER_TYPE_URL,
  type Cluster,
  type ClusterLoadAssignment,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  type Listener,
  ListenerSchema,
  ROUTE_TYPE_URL,
  type RouteConfiguration,
  RouteConfigurationSchema,
} from "@dispatch/proto/envoy";
import { type Gateway, type GatewayOptions, type GatewaySnapshot, startGateway } from "../../src/index.js";
import type { AccessLogEntry } from "../../src/proxy/access-log.js";
import { type AdsResponder, startAdsResponder } from "./ads-responder.js";
import { startUpstream, type Upstream } from "./http.js";

/** Puts a whole config on the responder: listeners, routes, clusters, endpoints. */
export function serve(
  ads: AdsResponder,
  config: {
    listeners?: Listener[];
    routes?: RouteConfiguration[];
    clusters?: Cluster[];
    endpoints?: ClusterLoadAssignment[];
  },
): void {
  // Dependencies first, as an ADS server orders a push.
  if (config.clusters) ads.set(CLUSTER_TYPE_URL, ClusterSchema, config.clusters);
  if (config.endpoints)
    ads.set(ENDPOINT_TYPE_URL, ClusterLoadAssignmentSchema, config.endpoints, (m) => m.clusterName);
  if (config.listeners) ads.set(LISTENER_TYPE_URL, ListenerSchema, config.listeners);
  if (config.routes) ads.set(ROUTE_TYPE_URL, RouteConfigurationSchema, config.routes);
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly accessLog: AccessLogEntry[];
  readonly logs: string[];
  /** Resolves with the first access log entry (written or to come) that satisfies `predicate`. */
  logEntry(predicate: (entry: AccessLogEntry) => boolean): Promise<AccessLogEntry>;
}

/** A gateway for a test: quick reconnects, logs kept for assertions. */
export async function startTestGateway(
  ads: AdsResponder,
  extra: Partial<GatewayOptions> = {},
): Promise<TestGateway> {
  const accessLog: AccessLogEntry[] = [];
  const waiters = new Set<(entry: AccessLogEntry) => void>();
  const logs: string[] = [];
  const gateway = await startGateway({
    ads: { address: ads.address, nodeId: "test-gateway" },
    listen: { port: 0 },
    accessLog: (entry) => {
      accessLog.push(entry);
      for (const waiter of [...waiters]) waiter(entry);
    },
    log: (message, error) => logs.push(error ? `${message}: ${String(error)}` : message),
    backoff: { initialMs: 20, maxMs: 500, jitter: 0.5 },
    ...extra,
  });
  const logEntry = (predicate: (entry: AccessLogEntry) => boolean) => {
    const found = accessLog.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<AccessLogEntry>((resolve) => {
      const waiter = (entry: AccessLogEntry) => {
        if (!predicate(entry)) return;
        waiters.delete(waiter);
        resolve(entry);
      };
      waiters.add(waiter);
    });
  };
  return { gateway, accessLog, logs, logEntry };
}

/** Resolves with the first snapshot (current or coming) that satisfies `predicate`. */
export function snapshotWhere(
  gateway: Gateway,
  predicate: (snapshot: GatewaySnapshot) => boolean,
): Promise<GatewaySnapshot> {
  const now = gateway.snapshot();
  if (predicate(now)) return Promise.resolve(now);
  return new Promise((resolve) => {
    const stop = gateway.onEvent((event) => {
      if (event.kind === "snapshot" && predicate(event.snapshot)) {
        stop();
        resolve(event.snapshot);
      }
    });
  });
}

/** What a test serves: any of the four resource lists. */
export type ServeConfig = Parameters<typeof serve>[1];

/**
 * A gateway with upstreams and an ADS responder for one test, all closed when
 * the test ends. `build` makes the config from the upstreams (their ports).
 */
export async function withGateway(
  t: { teardown(fn: () => Promise<void> | void): void },
  upstreamNames: readonly string[],
  build: (upstreams: Record<string, Upstream>) => ServeConfig,
  extra: Partial<GatewayOptions> = {},
): Promise<TestGateway & { upstreams: Record<string, Upstream>; ads: AdsResponder; url: string }> {
  const upstreams: Record<string, Upstream> = {};
  for (const name of upstreamNames) upstreams[name] = await startUpstream(name);
  const ads = await startAdsResponder();
  serve(ads, build(upstreams));
  const started = await startTestGateway(ads, extra);
  t.teardown(async () => {
    await started.gateway.close(0);
    await ads.close();
    for (const upstream of Object.values(upstreams)) await upstream.close();
  });
  await started.gateway.ready();
  return { ...started, upstreams, ads, url: started.gateway.url };
}
