import * as http from "node:http";
import * as https from "node:https";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { CompiledCluster, UpstreamTls } from "../route-table/cluster.js";
import type { BalancerState, EndpointSet, UpstreamEndpoint } from "../route-table/endpoints.js";

/** The keep-alive connections and counters of one cluster. */
export interface ClusterPool {
  readonly agent: http.Agent;
  readonly tls: boolean;
  /** Requests in flight (the circuit breaker's `max_requests`). */
  inFlight: number;
}

/**
 * One keep-alive agent per cluster, made when the cluster is first used and
 * made again when its connection settings change; the agent of a cluster that
 * left the config is closed once its last request is done. Also keeps the
 * per-endpoint counts least-request balancing reads and each endpoint set's
 * round-robin position.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, { pool: ClusterPool; cluster: CompiledCluster }>();
  private readonly retired = new Set<ClusterPool>();
  private readonly perEndpoint = new Map<string, number>();
  private readonly balancers = new WeakMap<EndpointSet, BalancerState>();

  /** The pool of a cluster as compiled now. */
  pool(cluster: CompiledCluster): ClusterPool {
    const held = this.pools.get(cluster.name);
    if (held && (held.cluster === cluster || sameConnectionSettings(held.cluster, cluster))) {
      held.cluster = cluster;
      return held.pool;
    }
    if (held) this.retire(held.pool);
    const options = {
      keepAlive: true,
      maxSockets: cluster.maxConnections,
      // The cluster's idle_timeout (Envoy's default: an hour). An upstream that closes idle
      // connections sooner says so in `Keep-Alive: timeout=N` (Node servers do), and node's agent
      // then lets them go a second before; one closed just as it was reused is tried again on a
      // new connection (forward.ts).
      timeout: cluster.idleTimeoutMs,
      scheduling: "lifo" as const,
    };
    const tls = cluster.tls;
    const agent = tls ? new https.Agent({ ...options, ...tlsOptions(tls) }) : new http.Agent(options);
    const pool: ClusterPool = { agent, tls: tls !== undefined, inFlight: 0 };
    this.pools.set(cluster.name, { pool, cluster });
    return pool;
  }

  /** Closes the pools of clusters no longer configured (their requests in flight finish first). */
  keepOnly(names: ReadonlySet<string>): void {
    for (const [name, held] of this.pools) {
      if (names.has(name)) continue;
      this.pools.delete(name);
      this.retire(held.pool);
    }
  }

  /** Balancing state for an endpoint set (one per set: a new EDS update starts afresh). */
  balancer(set: EndpointSet): BalancerState {
    let state = this.balancers.get(set);
    if (!state) {
      state = { counter: 0, current: [] };
      this.balancers.set(set, state);
    }
    return state;
  }

  inFlight(endpoint: UpstreamEndpoint): number {
    return this.perEndpoint.get(endpoint.key) ?? 0;
  }

  /** Counts a request to an endpoint; the returned function uncounts it (call it once). */
  begin(pool: ClusterPool, endpoint: UpstreamEndpoint): () => void {
    pool.inFlight++;
    this.perEndpoint.set(endpoint.key, this.inFlight(endpoint) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      pool.inFlight--;
      const left = this.inFlight(endpoint) - 1;
      if (left <= 0) this.perEndpoint.delete(endpoint.key);
      else this.perEndpoint.set(endpoint.key, left);
      if (pool.inFlight === 0 && this.retired.has(pool)) {
        this.retired.delete(pool);
        pool.agent.destroy();
      }
    };
  }

  /** Closes every pool. */
  close(): void {
    for (const { pool } of this.pools.values()) pool.agent.destroy();
    for (const pool of this.retired) pool.agent.destroy();
    this.pools.clear();
    this.retired.clear();
  }

  private retire(pool: ClusterPool): void {
    if (pool.inFlight === 0) pool.agent.destroy();
    else this.retired.add(pool);
  }
}

function sameConnectionSettings(a: CompiledCluster, b: CompiledCluster): boolean {
  return (
    a.maxConnections === b.maxConnections &&
    a.idleTimeoutMs === b.idleTimeoutMs &&
    JSON.stringify(tlsKey(a.tls)) === JSON.stringify(tlsKey(b.tls)) &&
    sameMatchers(a.tls, b.tls)
  );
}

function tlsKey(tls: UpstreamTls | undefined) {
  return tls
    ? { servername: tls.servername, verify: tls.verify, ca: tls.ca, certificate: tls.certificate }
    : undefined;
}

function sameMatchers(a: UpstreamTls | undefined, b: UpstreamTls | undefined): boolean {
  return (a?.subjectAltNames.length ?? 0) === 0 && (b?.subjectAltNames.length ?? 0) === 0;
}

function tlsOptions(tls: UpstreamTls): https.AgentOptions {
  return {
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    rejectUnauthorized: tls.verify,
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.certificate ? { cert: tls.certificate.cert, key: tls.certificate.key } : {}),
    ...(tls.subjectAltNames.length > 0
      ? {
          // Envoy's match_typed_subject_alt_names replaces the host name check.
          checkServerIdentity: (_host: string, cert: PeerCertificate) => {
            const names = parseSubjectAltNames(cert.subjectaltname ?? "");
            const ok = tls.subjectAltNames.some((m) =>
              names.some((n) => n.type === m.type && m.match(n.value)),
            );
            return ok
              ? undefined
              : new Error(
                  `the upstream certificate's subject alt names (${cert.subjectaltname}) match none configured`,
                );
          },
        }
      : tls.verify
        ? { checkServerIdentity }
        : {}),
  };
}

function parseSubjectAltNames(text: string): { type: "dns" | "ip" | "uri" | "email"; value: string }[] {
  const types: Record<string, "dns" | "ip" | "uri" | "email"> = {
    DNS: "dns",
    "IP Address": "ip",
    URI: "uri",
    email: "email",
  };
  return text
    .split(/,\s*/)
    .map((entry) => {
      const colon = entry.indexOf(":");
      const type = types[entry.slice(0, colon)];
      return type ? { type, value: entry.slice(colon + 1) } : undefined;
    })
    .filter((x): x is { type: "dns" | "ip" | "uri" | "email"; value: string } => x !== undefined);
}
