import type { CompiledCluster } from "../route-table/cluster.js";
import type { EndpointSet } from "../route-table/endpoints.js";
import type { CompiledListener } from "../route-table/listener.js";
import type { RouteTable } from "../route-table/route-table.js";
import { type CompiledResources, clustersOfListener, clustersOfRouteTable } from "../route-table/snapshot.js";
import { type ResourceKind, resourceKinds, resourceTypes } from "./resource-types.js";

/** A resource the client accepted: its version and what it compiled to. */
export interface HeldResource {
  readonly version: string;
  readonly compiled: unknown;
}

/** What the client holds and wants of one resource type. */
export interface TypeState {
  /** Subscribed to everything of the type (`"*"`): listeners. */
  readonly wildcard: boolean;
  /** Names subscribed by name. */
  readonly names: ReadonlySet<string>;
  readonly resources: ReadonlyMap<string, HeldResource>;
  /** Subscribed names the server has answered: sent, or said do not exist. */
  readonly answered: ReadonlySet<string>;
  /** Whether any response of this type has arrived (a wildcard type is warm after one). */
  readonly responded: boolean;
}

/** The client's whole state; immutable, replaced on every change. */
export type ClientState = Readonly<Record<ResourceKind, TypeState>>;

/** One resource of a response, decoded (message undefined: it could not be). */
export interface IncomingResource {
  readonly name: string;
  readonly version: string;
  readonly message: unknown;
}

/** Compiles one resource of a kind (throws what is wrong with it). */
export type CompileResource = (kind: ResourceKind, message: unknown) => unknown;

const emptyType: TypeState = {
  wildcard: false,
  names: new Set(),
  resources: new Map(),
  answered: new Set(),
  responded: false,
};

/** The state of a new client: listeners by wildcard, nothing else yet. */
export function initialState(): ClientState {
  return {
    listener: { ...emptyType, wildcard: true },
    route: emptyType,
    cluster: emptyType,
    endpoint: emptyType,
  };
}

/** At most this many resource errors are spelled out in one NACK. */
const maxErrorsInNack = 10;

/**
 * Applies a Delta response of one type. Every resource is decoded and compiled
 * (a resource whose version the client already holds is not compiled again);
 * if any cannot be applied the whole response is refused with a message that
 * names each bad resource and says why, and the state is left as it was
 * (xds_protocol: a NACK keeps the last accepted config). Resources of a named
 * type that were not asked for are ignored.
 */
export function applyResponse(
  state: ClientState,
  kind: ResourceKind,
  incoming: readonly IncomingResource[],
  removed: readonly string[],
  compile: CompileResource,
): { ok: true; state: ClientState } | { ok: false; error: string } {
  const type = resourceTypes[kind];
  const current = state[kind];
  const resources = new Map(current.resources);
  const answered = new Set(current.answered);
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const resource of incoming) {
    const label = `${type.label} ${JSON.stringify(resource.name)}`;
    if (resource.name === "") {
      errors.push(`${type.label}: a resource has no name`);
      continue;
    }
    if (seen.has(resource.name)) {
      errors.push(`${label}: sent twice in one response`);
      continue;
    }
    seen.add(resource.name);
    if (!current.wildcard && !current.names.has(resource.name)) continue;
    if (resource.message === undefined) {
      errors.push(`${label}: cannot be decoded as ${type.label}`);
      continue;
    }
    const inner = type.nameOf(resource.message);
    if (inner !== resource.name) {
      errors.push(`${label}: the resource inside is named ${JSON.stringify(inner)}`);
      continue;
    }
    const held = current.resources.get(resource.name);
    if (held && held.version === resource.version && resource.version !== "") {
      answered.add(resource.name);
      continue;
    }
    try {
      resources.set(resource.name, { version: resource.version, compiled: compile(kind, resource.message) });
      answered.add(resource.name);
    } catch (error) {
      errors.push(`${label}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (errors.length > 0) {
    const shown = errors.slice(0, maxErrorsInNack);
    const more = errors.length > shown.length ? ` (and ${errors.length - shown.length} more)` : "";
    return { ok: false, error: shown.join("; ") + more };
  }
  for (const name of removed) {
    resources.delete(name);
    if (current.wildcard || current.names.has(name)) answered.add(name);
  }
  return { ok: true, state: { ...state, [kind]: { ...current, resources, answered, responded: true } } };
}

/** Subscription changes to send, per type. */
export type SubscriptionChanges = Partial<
  Record<ResourceKind, { subscribe: string[]; unsubscribe: string[] }>
>;

/**
 * Follows references down the dependency order: the route configurations
 * the listeners name, the clusters their routes and filters name, the load
 * assignments of EDS clusters. Names no longer referenced are unsubscribed and
 * their resources dropped, which may drop what they referenced in turn.
 */
export function followReferences(state: ClientState): { state: ClientState; changes: SubscriptionChanges } {
  const changes: SubscriptionChanges = {};
  let next = state;
  const listeners = [...next.listener.resources.values()].map((r) => r.compiled as CompiledListener);
  next = resubscribe(next, "route", new Set(listeners.flatMap((l) => l.routeConfigNames)), changes);
  const tables = [...next.route.resources.values()].map((r) => r.compiled as RouteTable);
  next = resubscribe(
    next,
    "cluster",
    new Set([...listeners.flatMap(clustersOfListener), ...tables.flatMap(clustersOfRouteTable)]),
    changes,
  );
  const clusters = [...next.cluster.resources.values()].map((r) => r.compiled as CompiledCluster);
  next = resubscribe(
    next,
    "endpoint",
    new Set(clusters.flatMap((c) => (c.discovery === "eds" && c.edsServiceName ? [c.edsServiceName] : []))),
    changes,
  );
  return { state: next, changes };
}

function resubscribe(
  state: ClientState,
  kind: ResourceKind,
  wanted: Set<string>,
  changes: SubscriptionChanges,
): ClientState {
  const current = state[kind];
  const subscribe = [...wanted].filter((n) => !current.names.has(n)).sort();
  const unsubscribe = [...current.names].filter((n) => !wanted.has(n)).sort();
  if (subscribe.length === 0 && unsubscribe.length === 0) return state;
  changes[kind] = { subscribe, unsubscribe };
  const resources = new Map(current.resources);
  const answered = new Set(current.answered);
  for (const name of unsubscribe) {
    resources.delete(name);
    answered.delete(name);
  }
  return { ...state, [kind]: { ...current, names: wanted, resources, answered } };
}

/** A subscribed name the server has not answered in time is taken not to exist (xds_protocol: does-not-exist timeout). */
export function markAbsent(state: ClientState, kind: ResourceKind, name: string): ClientState {
  const current = state[kind];
  if (!current.names.has(name) || current.answered.has(name)) return state;
  return { ...state, [kind]: { ...current, answered: new Set([...current.answered, name]) } };
}

/** Whether every subscribed resource has been answered: only then is a new snapshot consistent. */
export function isWarm(state: ClientState): boolean {
  if (!state.listener.responded) return false;
  for (const kind of resourceKinds) {
    const type = state[kind];
    for (const name of type.names) if (!type.answered.has(name)) return false;
  }
  return true;
}

/** The subscribed names not yet answered, per kind (what a does-not-exist timer waits for). */
export function pendingNames(state: ClientState, kind: ResourceKind): string[] {
  const type = state[kind];
  return [...type.names].filter((n) => !type.answered.has(n));
}

/** The versions held, for `initial_resource_versions` when a stream is opened again. */
export function heldVersions(state: ClientState, kind: ResourceKind): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, held] of state[kind].resources) out[name] = held.version;
  return out;
}

/** What a snapshot is assembled from. */
export function compiledResources(state: ClientState): CompiledResources {
  const map = <T>(kind: ResourceKind) => {
    const out = new Map<string, T>();
    for (const [name, held] of state[kind].resources) out.set(name, held.compiled as T);
    return out;
  };
  return {
    listeners: map<CompiledListener>("listener"),
    routeTables: map<RouteTable>("route"),
    clusters: map<CompiledCluster>("cluster"),
    loadAssignments: map<EndpointSet>("endpoint"),
  };
}
