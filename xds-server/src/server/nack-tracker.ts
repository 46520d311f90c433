/**
 * The versions each client rejected, so that none is ever pushed to it again
 * (xds_protocol: a NACKed config is not re-sent; the client keeps its last
 * good one). Keyed by node id, so a reconnecting client is still spared what
 * it refused. Bounded: the oldest entries go first.
 */
export interface NackTracker {
  /** Records that `node` rejected `key` (a resource `name@version`, or a SotW response's content key). */
  reject(node: string, typeUrl: string, key: string): void;
  isRejected(node: string, typeUrl: string, key: string): boolean;
}

/** Limits of a {@link NackTracker}. */
export interface NackTrackerOptions {
  /** Rejections remembered per node; default 1024. */
  perNode?: number;
  /** Nodes remembered; default 4096 (the least recently seen go first). */
  nodes?: number;
}

/** Creates a {@link NackTracker}. */
export function createNackTracker(options: NackTrackerOptions = {}): NackTracker {
  const perNode = options.perNode ?? 1024;
  const maxNodes = options.nodes ?? 4096;
  // Map iteration order is insertion order: re-inserting marks as most recent.
  const nodes = new Map<string, Set<string>>();
  const touch = (node: string): Set<string> => {
    const set = nodes.get(node) ?? new Set<string>();
    nodes.delete(node);
    nodes.set(node, set);
    for (const oldest of nodes.keys()) {
      if (nodes.size <= maxNodes) break;
      nodes.delete(oldest);
    }
    return set;
  };
  return {
    reject(node, typeUrl, key) {
      const set = touch(node);
      set.add(`${typeUrl}\n${key}`);
      for (const oldest of set) {
        if (set.size <= perNode) break;
        set.delete(oldest);
      }
    },
    isRejected: (node, typeUrl, key) => nodes.get(node)?.has(`${typeUrl}\n${key}`) ?? false,
  };
}
