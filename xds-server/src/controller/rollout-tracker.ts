import type { ClientInfo, NackEvent } from "../server/session-types.js";

/** A resource by type and name. */
export interface ResourceKey {
  typeUrl: string;
  name: string;
}

/** What one endpoint is in the served configuration. */
export interface EndpointConfig {
  /** The endpoint's part of the configuration; a new value means its config changed. */
  fingerprint: string;
  /** The resources that carry it (its listener, routes, clusters, load assignments). */
  resources: readonly ResourceKey[];
}

/** How far an endpoint's current configuration has reached the data planes. */
export type Rollout =
  /** Every connected data plane applied it. */
  | { state: "applied"; proxies: string[] }
  /** Some have not yet: `pending` names them (node ids). */
  | { state: "pending"; proxies: string[]; pending: string[] }
  /** No data plane is connected: nothing serves it. */
  | { state: "no-data-plane" }
  /** A data plane refused the configuration that carries it. */
  | { state: "rejected"; proxy: string; message: string };

/** Versions remembered per resource (older ones count as not applied). */
const versionsKept = 64;

/**
 * Follows which version of each resource carries which endpoint's current
 * configuration, and tells from the clients' ACKs whether every data plane
 * has applied it: what makes an endpoint READY ("routable", not merely
 * accepted), as Envoy Gateway's `Programmed` condition does.
 *
 * Resources are versioned by content hash, so versions have no order; the
 * tracker numbers each version when it becomes current. An endpoint needs,
 * of each resource that carries it, the version current when its own
 * configuration last changed, or any later one: a later version (another
 * endpoint's change) still carries it as it is.
 */
export interface RolloutTracker {
  /**
   * Records a new served state: every resource's version, and each served
   * endpoint's configuration. Endpoints absent are no longer tracked.
   * @returns the endpoints whose configuration changed, came or went
   */
  served(
    versions: ReadonlyMap<string, ReadonlyMap<string, string>>,
    endpoints: ReadonlyMap<string, EndpointConfig>,
  ): string[];
  /**
   * Records a refusal: the endpoints whose change introduced a refused
   * version are blamed (when none is, every endpoint the resource carries).
   * @returns the endpoints blamed
   */
  rejected(event: NackEvent): string[];
  /** Where the endpoint's configuration is, from what `clients` have ACKed; undefined when it is not served. */
  rollout(endpoint: string, clients: readonly ClientInfo[]): Rollout | undefined;
}

/**
 * Creates a {@link RolloutTracker}.
 *
 * @param isDataPlane which clients serve endpoints (e.g. those that ACKed the
 *   HTTP listener); a gRPC client that only reads clusters is not one
 */
export function createRolloutTracker(isDataPlane: (client: ClientInfo) => boolean): RolloutTracker {
  let sequence = 0;
  /** type\nname → version → the sequence number at which it last became current. */
  const history = new Map<string, Map<string, number>>();
  const current = new Map<string, string>();
  /** endpoint → its fingerprint, and per resource the sequence number it needs. */
  const needs = new Map<string, { fingerprint: string; resources: Map<string, number> }>();
  /** endpoint → the refusal that blames it (until its config changes or a data plane applies it). */
  const refusals = new Map<string, { proxy: string; message: string }>();

  const key = (typeUrl: string, name: string) => `${typeUrl}\n${name}`;
  const seqOf = (resource: string, version: string | undefined) =>
    version === undefined ? undefined : history.get(resource)?.get(version);

  return {
    served(versions, endpoints) {
      sequence++;
      const live = new Set<string>();
      for (const [typeUrl, byName] of versions) {
        for (const [name, version] of byName) {
          const k = key(typeUrl, name);
          live.add(k);
          if (current.get(k) === version) continue;
          current.set(k, version);
          const seen = history.get(k) ?? new Map<string, number>();
          seen.delete(version);
          seen.set(version, sequence);
          for (const oldest of seen.keys()) {
            if (seen.size <= versionsKept) break;
            seen.delete(oldest);
          }
          history.set(k, seen);
        }
      }
      for (const k of current.keys()) {
        if (!live.has(k)) {
          current.delete(k);
          history.delete(k);
        }
      }
      const changed: string[] = [];
      for (const endpoint of needs.keys()) {
        if (!endpoints.has(endpoint)) {
          needs.delete(endpoint);
          refusals.delete(endpoint);
          changed.push(endpoint);
        }
      }
      for (const [endpoint, config] of endpoints) {
        const before = needs.get(endpoint);
        if (before?.fingerprint === config.fingerprint) continue;
        changed.push(endpoint);
        const resources = new Map<string, number>();
        for (const r of config.resources) {
          const k = key(r.typeUrl, r.name);
          resources.set(k, seqOf(k, current.get(k)) ?? sequence);
        }
        needs.set(endpoint, { fingerprint: config.fingerprint, resources });
        refusals.delete(endpoint);
      }
      return changed;
    },

    rejected(event) {
      const blamed = new Set<string>();
      const carried = new Set<string>();
      for (const r of event.resources) {
        const k = key(event.typeUrl, r.name);
        const refusedSeq = seqOf(k, r.version);
        for (const [endpoint, need] of needs) {
          const required = need.resources.get(k);
          if (required === undefined) continue;
          carried.add(endpoint);
          if (refusedSeq !== undefined && required === refusedSeq) blamed.add(endpoint);
        }
      }
      const out = blamed.size > 0 ? blamed : carried;
      for (const endpoint of out) refusals.set(endpoint, { proxy: event.node.id, message: event.message });
      return [...out].sort();
    },

    rollout(endpoint, clients) {
      const need = needs.get(endpoint);
      if (!need) return undefined;
      const proxies = clients.filter(isDataPlane);
      const pending: string[] = [];
      for (const client of proxies) {
        let applied = true;
        for (const [k, required] of need.resources) {
          const [typeUrl = "", name = ""] = k.split("\n");
          const version = client.acked.get(typeUrl)?.get(name);
          const seq = seqOf(k, version);
          if (seq === undefined || seq < required) {
            applied = false;
            break;
          }
        }
        if (!applied) pending.push(client.node.id);
      }
      const refusal = refusals.get(endpoint);
      if (refusal && pending.length > 0) return { state: "rejected", ...refusal };
      if (refusal) refusals.delete(endpoint);
      const ids = proxies.map((c) => c.node.id).sort();
      if (proxies.length === 0) return { state: "no-data-plane" };
      if (pending.length > 0) return { state: "pending", proxies: ids, pending: pending.sort() };
      return { state: "applied", proxies: ids };
    },
  };
}
