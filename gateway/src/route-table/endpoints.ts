import { type Address, type ClusterLoadAssignment, HealthStatus } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";

/** One upstream host. */
export interface UpstreamEndpoint {
  /** An IP address or a host name (resolved when connecting). */
  readonly address: string;
  readonly port: number;
  /** `load_balancing_weight` (default 1). */
  readonly weight: number;
  /** `address:port`, what logs and per-host state use. */
  readonly key: string;
}

/**
 * The endpoints a cluster sends to: Envoy uses the highest-priority level
 * (lowest number) that has a usable host, so this keeps only that level.
 * HEALTHY and UNKNOWN hosts are usable; DEGRADED ones only when a level has no
 * other; UNHEALTHY, DRAINING and TIMEOUT ones never.
 */
export interface EndpointSet {
  readonly endpoints: readonly UpstreamEndpoint[];
  /** Whether all of them have the same weight (plain round robin then). */
  readonly evenWeights: boolean;
}

/** An empty set: a cluster that has no usable host answers 503 "no healthy upstream". */
export const noEndpoints: EndpointSet = { endpoints: [], evenWeights: true };

/** Compiles a ClusterLoadAssignment into the set of hosts to send to. */
export function compileLoadAssignment(cla: ClusterLoadAssignment): EndpointSet {
  if (Object.keys(cla.namedEndpoints).length > 0) {
    throw new ConfigError("named_endpoints", "are not supported by the gateway");
  }
  const levels = new Map<number, { usable: UpstreamEndpoint[]; degraded: UpstreamEndpoint[] }>();
  for (const [i, locality] of cla.endpoints.entries()) {
    within(`endpoints[${i}]`, () => {
      if (locality.lbConfig.case === "ledsClusterLocalityConfig") {
        throw new ConfigError("leds_cluster_locality_config", "LEDS is not supported by the gateway");
      }
      let level = levels.get(locality.priority);
      if (!level) {
        level = { usable: [], degraded: [] };
        levels.set(locality.priority, level);
      }
      const lbEndpoints =
        locality.lbConfig.case === "loadBalancerEndpoints"
          ? locality.lbConfig.value.lbEndpoints
          : locality.lbEndpoints;
      for (const [j, lb] of lbEndpoints.entries()) {
        within(`lb_endpoints[${j}]`, () => {
          if (lb.hostIdentifier.case !== "endpoint") {
            throw new ConfigError(
              "endpoint",
              "is required (named endpoints are not supported by the gateway)",
            );
          }
          const endpoint = compileAddress(lb.hostIdentifier.value.address, lb.loadBalancingWeight);
          switch (lb.healthStatus) {
            case HealthStatus.UNKNOWN:
            case HealthStatus.HEALTHY:
              level?.usable.push(endpoint);
              break;
            case HealthStatus.DEGRADED:
              level?.degraded.push(endpoint);
              break;
            default:
              break;
          }
        });
      }
    });
  }
  for (const priority of [...levels.keys()].sort((a, b) => a - b)) {
    const level = levels.get(priority);
    if (!level) continue;
    const chosen = level.usable.length > 0 ? level.usable : level.degraded;
    if (chosen.length > 0) return endpointSet(chosen);
  }
  return noEndpoints;
}

/** Makes a set from hosts (e.g. a STATIC cluster's inline load assignment). */
export function endpointSet(endpoints: readonly UpstreamEndpoint[]): EndpointSet {
  const first = endpoints[0]?.weight;
  return { endpoints, evenWeights: endpoints.every((e) => e.weight === first) };
}

function compileAddress(address: Address | undefined, weight: number | undefined): UpstreamEndpoint {
  if (address?.address.case !== "socketAddress") {
    throw new ConfigError(
      "endpoint.address",
      "must be a socket address (pipes and internal addresses are not supported)",
    );
  }
  const socket = address.address.value;
  if (socket.portSpecifier.case !== "portValue") {
    throw new ConfigError("endpoint.address.socket_address", "needs a port_value");
  }
  const port = socket.portSpecifier.value;
  if (port <= 0 || port > 65535)
    throw new ConfigError("endpoint.address.socket_address.port_value", `${port} is not a port`);
  if (socket.address === "") throw new ConfigError("endpoint.address.socket_address.address", "is required");
  const w = weight ?? 1;
  if (w < 1) throw new ConfigError("load_balancing_weight", "must be at least 1");
  const host = socket.address;
  return {
    address: host,
    port,
    weight: w,
    key: host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`,
  };
}

/** Load balancing state of one endpoint set (kept by the proxy, one per set it has used). */
export interface BalancerState {
  counter: number;
  /** Smooth weighted round robin: each host's current weight. */
  current: number[];
}

/** The load balancing policies the gateway implements. */
export type LbPolicy = "round-robin" | "random" | "least-request";

/**
 * Picks a host. Round robin is weighted (smooth weighted round robin) when
 * weights differ; least-request compares two random hosts by calls in flight
 * (Envoy's default power of two choices). `random` is in [0, 1).
 */
export function pickEndpoint(
  set: EndpointSet,
  policy: LbPolicy,
  state: BalancerState,
  random: () => number,
  inFlight: (endpoint: UpstreamEndpoint) => number,
): UpstreamEndpoint | undefined {
  const hosts = set.endpoints;
  if (hosts.length <= 1) return hosts[0];
  switch (policy) {
    case "random":
      return hosts[Math.floor(random() * hosts.length)];
    case "least-request": {
      const a = hosts[Math.floor(random() * hosts.length)];
      const b = hosts[Math.floor(random() * hosts.length)];
      if (!a || !b) return a ?? b;
      const ra = inFlight(a) / a.weight;
      const rb = inFlight(b) / b.weight;
      return rb < ra ? b : a;
    }
    case "round-robin": {
      if (set.evenWeights) return hosts[state.counter++ % hosts.length];
      if (state.current.length !== hosts.length) state.current = hosts.map(() => 0);
      let total = 0;
      let best = 0;
      hosts.forEach((host, i) => {
        const now = (state.current[i] ?? 0) + host.weight;
        state.current[i] = now;
        total += host.weight;
        if (now > (state.current[best] ?? 0)) best = i;
      });
      state.current[best] = (state.current[best] ?? 0) - total;
      return hosts[best];
    }
  }
}
