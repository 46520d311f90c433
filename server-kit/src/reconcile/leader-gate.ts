/**
 * Whether this process may act (reconcile, write status), and when that
 * changes. One leader among replicas acts; the others keep their caches warm.
 */
export interface LeaderGate {
  isLeader(): boolean;
  /** Calls `listener` with the new state each time it changes; returns a function that removes it. */
  onChange(listener: (isLeader: boolean) => void): () => void;
}

/** A {@link LeaderGate} set by hand: by a leader election (a Kubernetes Lease), or by a test. */
export interface SettableLeaderGate extends LeaderGate {
  set(isLeader: boolean): void;
}

/** A gate that starts as `initial` and changes with `set`. */
export function createLeaderGate(initial: boolean): SettableLeaderGate {
  let leader = initial;
  const listeners = new Set<(isLeader: boolean) => void>();
  return {
    isLeader: () => leader,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(next) {
      if (next === leader) return;
      leader = next;
      for (const listener of [...listeners]) listener(next);
    },
  };
}
