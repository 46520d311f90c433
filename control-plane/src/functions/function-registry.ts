import { type Function as FunctionResource, Phase } from "@dispatch/proto";
import type { ReconcileEvent } from "@dispatch/server-kit";
import { InstanceQuotaError } from "./instance-quota.js";
import type { Lease, RevisionPool } from "./revision-pool.js";

/** A function's place in the scheduler: what serves it and what it reports. */
export interface FunctionState {
  key: string;
  org: string;
  name: string;
  /** The object as the watch saw it last. */
  object: FunctionResource;
  /** The revision that takes calls. */
  serving: RevisionPool | undefined;
  /** A revision being started (rollout), until it serves or is given up. */
  starting?: RevisionPool | undefined;
  servingGeneration: bigint;
  phase: Phase;
  reason: string[];
  /** The last crash, while `reason` tells of it: "instance f-1-2 crashed (exit code 3)". */
  crash?: string;
  /** The generation the status describes. */
  observed: bigint;
  /** Resolves waiting callers when the function becomes ready or fails. */
  settled: Array<() => void>;
  deleted: boolean;
}

/** Thrown by {@link FunctionRegistry.acquire} when a function cannot take calls. */
export class NotServingError extends Error {
  override readonly name = "NotServingError";
}

/**
 * The functions the scheduler knows, fed from the watch the moment a change
 * arrives (before it is reconciled): the invoker finds a function and a call
 * slot here without a store round trip, and a deleted function takes no more
 * calls at once. Its deleted states wait here until the reconcile of their
 * key has stopped their instances.
 */
export class FunctionRegistry {
  private readonly states = new Map<string, FunctionState>();
  /** Deleted functions whose instances have not been stopped yet, by key. */
  private readonly removed = new Map<string, FunctionState[]>();
  /** Callers waiting for a function that is not known yet (just created). */
  private readonly pendingKnown: Array<() => void> = [];

  /** Takes in a change from the watch. */
  observe(event: ReconcileEvent<FunctionResource>): void {
    if (event.type === "synced") return;
    if (event.type === "delete") {
      this.remove(event.key);
      return;
    }
    const object = event.object;
    let state = this.states.get(event.key);
    // The same name for a new function without a delete between (a relisted feed).
    if (state && state.object.meta?.uid !== object.meta?.uid) {
      this.remove(event.key);
      state = undefined;
    }
    if (state) {
      state.object = object;
      return;
    }
    this.states.set(event.key, {
      key: event.key,
      org: object.meta?.org ?? "",
      name: object.meta?.name ?? "",
      object,
      serving: undefined,
      servingGeneration: 0n,
      phase: object.status?.phase ?? Phase.INITIALIZED,
      reason: [],
      observed: 0n,
      settled: [],
      deleted: false,
    });
    for (const wake of this.pendingKnown.splice(0)) wake();
  }

  /**
   * At once, not after a rollout in progress: a deleted function starts
   * nothing more (starts waiting for the quota give up), and its instances
   * begin to stop. Its reconcile waits for them ({@link takeRemoved}).
   */
  private remove(key: string): void {
    const state = this.states.get(key);
    if (!state) return;
    state.deleted = true;
    this.states.delete(key);
    this.removed.set(key, [...(this.removed.get(key) ?? []), state]);
    void state.starting?.drain();
    void state.serving?.drain();
  }

  /** The function known under the key, if any. */
  get(key: string): FunctionState | undefined {
    return this.states.get(key);
  }

  /** The deleted functions of the key whose instances are still to be stopped; each is handed out once. */
  takeRemoved(key: string): FunctionState[] {
    const removed = this.removed.get(key) ?? [];
    this.removed.delete(key);
    return removed;
  }

  /** Every function, the deleted ones not yet cleaned up included. */
  all(): FunctionState[] {
    return [...this.states.values(), ...[...this.removed.values()].flat()];
  }

  /** Wakes the callers waiting for the function to become ready or fail. */
  settle(state: FunctionState): void {
    for (const wake of state.settled.splice(0)) wake();
  }

  /** The function as last seen by the watch, if known. */
  known(org: string, name: string): FunctionResource | undefined {
    return this.states.get(`${org}.${name}`)?.object;
  }

  /** Why the function cannot take calls (ERROR with no revision serving), or undefined when it can or may soon. */
  notServing(org: string, name: string): string | undefined {
    const state = this.states.get(`${org}.${name}`);
    if (!state || state.serving || state.phase !== Phase.ERROR) return undefined;
    return state.reason.join("; ") || "it is in ERROR";
  }

  /** How many functions are known and how many instances serve them. */
  summary(): { functions: number; instances: number } {
    let instances = 0;
    for (const s of this.states.values()) instances += s.serving?.size ?? 0;
    return { functions: this.states.size, instances };
  }

  /** A free call slot on a warm instance, at once, or undefined. */
  tryAcquire(org: string, name: string): { lease: Lease; object: FunctionResource } | undefined {
    const state = this.states.get(`${org}.${name}`);
    const lease = state?.serving?.tryAcquire();
    return lease && state ? { lease, object: state.object } : undefined;
  }

  /**
   * A call slot on a ready instance of the function, waking it when it runs
   * no instance (the activator's job). Waits while the function is being
   * created; fails with {@link NotServingError} when it cannot serve.
   */
  async acquire(
    org: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<{ lease: Lease; object: FunctionResource }> {
    const key = `${org}.${name}`;
    for (;;) {
      const state = this.states.get(key);
      if (state?.serving) {
        const pool = state.serving;
        const lease = await pool.acquire(signal);
        return { lease, object: state.object };
      }
      if (state?.deleted) throw new NotServingError(`function "${name}" was deleted`);
      if (state && state.phase === Phase.ERROR) {
        throw new NotServingError(`function "${name}" is not ready: ${state.reason.join("; ")}`);
      }
      if (signal?.aborted) throw signal.reason;
      // Not known yet (just created) or still starting: wait until it settles
      // (or the caller gives up).
      await new Promise<void>((resolve, reject) => {
        const list = state ? state.settled : this.pendingKnown;
        const onAbort = () => {
          const at = list.indexOf(done);
          if (at >= 0) list.splice(at, 1);
          // Gave up while the first instance waited for the org's quota: say so.
          const starting = state?.starting;
          reject(
            starting?.waitingForQuota ? new InstanceQuotaError(starting.quotaMessage()) : signal?.reason,
          );
        };
        const done = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        list.push(done);
      });
    }
  }
}
