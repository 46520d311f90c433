import type { DescMessage, Message } from "@bufbuild/protobuf";
import { type CachedResource, cacheResource } from "./cached-resource.js";

export type { CachedResource } from "./cached-resource.js";

/** A resource to serve. */
export interface ResourceInput {
  typeUrl: string;
  name: string;
  schema: DescMessage;
  message: Message;
}

/** What one {@link SnapshotCache.set} changed, per type URL. */
export type CacheChange = ReadonlyMap<string, { upserted: readonly string[]; removed: readonly string[] }>;

/**
 * The resources the ADS server serves, one snapshot for every client. Each
 * resource is encoded once when it is set (and its SotW and Delta wrappers
 * once when first sent); unchanged resources keep their encoded object from
 * one snapshot to the next, so every stream shares the same bytes.
 *
 * @example
 * const cache = createSnapshotCache();
 * cache.set(translation.resources);
 * cache.get(CLUSTER_TYPE_URL); // name → CachedResource
 */
export interface SnapshotCache {
  /**
   * Replaces everything served with `resources` (a type absent from them is
   * emptied) and tells the subscribers what changed, if anything did.
   *
   * @throws Error when two resources of one type share a name
   */
  set(resources: Iterable<ResourceInput>): CacheChange;
  /** {@link SnapshotCache.set} with resources already encoded (`cacheResource`). */
  setEncoded(resources: Iterable<CachedResource>): CacheChange;
  /** The current resources of a type, by name. */
  get(typeUrl: string): ReadonlyMap<string, CachedResource>;
  /** One current resource. */
  resource(typeUrl: string, name: string): CachedResource | undefined;
  /** Type URLs that have resources now. */
  typeUrls(): string[];
  /** Increases with every change. */
  readonly generation: number;
  /** Calls `listener` after each change; returns the unsubscribe function. */
  subscribe(listener: (change: CacheChange) => void): () => void;
}

const empty: ReadonlyMap<string, CachedResource> = new Map();

/** Creates an empty {@link SnapshotCache}. */
export function createSnapshotCache(): SnapshotCache {
  let types = new Map<string, Map<string, CachedResource>>();
  let generation = 0;
  const listeners = new Set<(change: CacheChange) => void>();

  const setEncoded = (resources: Iterable<CachedResource>): CacheChange => {
    const next = new Map<string, Map<string, CachedResource>>();
    for (const fresh of resources) {
      let byName = next.get(fresh.typeUrl);
      if (!byName) {
        byName = new Map();
        next.set(fresh.typeUrl, byName);
      }
      // xds_protocol: "Duplicate Resource Names" — a client must NACK them.
      if (byName.has(fresh.name)) throw new Error(`two ${fresh.typeUrl} resources are named "${fresh.name}"`);
      const old = types.get(fresh.typeUrl)?.get(fresh.name);
      byName.set(fresh.name, old && old.version === fresh.version ? old : fresh);
    }
    const change = new Map<string, { upserted: string[]; removed: string[] }>();
    for (const typeUrl of new Set([...types.keys(), ...next.keys()])) {
      const before = types.get(typeUrl) ?? empty;
      const after = next.get(typeUrl) ?? empty;
      const upserted = [...after.values()].filter((r) => before.get(r.name) !== r).map((r) => r.name);
      const removed = [...before.keys()].filter((name) => !after.has(name));
      if (upserted.length > 0 || removed.length > 0) change.set(typeUrl, { upserted, removed });
    }
    types = next;
    if (change.size > 0) {
      generation++;
      for (const listener of listeners) listener(change);
    }
    return change;
  };

  return {
    set: (resources) =>
      setEncoded([...resources].map((r) => cacheResource(r.typeUrl, r.name, r.schema, r.message))),
    setEncoded,
    get: (typeUrl) => types.get(typeUrl) ?? empty,
    resource: (typeUrl, name) => types.get(typeUrl)?.get(name),
    typeUrls: () => [...types.keys()],
    get generation() {
      return generation;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
