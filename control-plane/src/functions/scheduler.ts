import { clone, create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  type Condition,
  ConditionSchema,
  ConditionStatus,
  type Function as FunctionResource,
  FunctionSchema,
  Phase,
} from "@dispatch/proto";
import type { ErrorLogger } from "../errors.js";
import type { ResourceStore } from "../store/resource-store.js";
import type { BundleCache, BundleHandle } from "./bundle-cache.js";
import { type Driver, describeExit, type RevisionSpec } from "./driver.js";
import { type InstanceQuota, InstanceQuotaError } from "./instance-quota.js";
import { type Lease, type PoolEvent, RevisionPool, type ScalePolicy } from "./revision-pool.js";

/** Defaults for what a function's spec leaves unset. */
export interface FunctionDefaults {
  maxInstances: number;
  concurrency: number;
  idleMs: number;
  timeoutMs: number;
}

/** The built-in defaults: 10 instances of 100 calls each, idle after 60 s, 30 s calls. */
export const functionDefaults: FunctionDefaults = {
  maxInstances: 10,
  concurrency: 100,
  idleMs: 60_000,
  timeoutMs: 30_000,
};

/** Options for {@link Scheduler}. */
export interface SchedulerOptions {
  store: ResourceStore<FunctionResource>;
  driver: Driver;
  bundles: BundleCache;
  defaults?: Partial<FunctionDefaults>;
  /** Instances per org; default none. */
  quota?: InstanceQuota;
  /** Called once a deleted function's instances have stopped (calls in flight are done). */
  onRemoved?(org: string, name: string): Promise<void>;
  log: ErrorLogger;
}

/** A function's place in the scheduler: what serves it and what it reports. */
interface FunctionState {
  key: string;
  org: string;
  name: string;
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
  observed: bigint;
  /** Rollouts and status writes for one function run one at a time. */
  queue: Promise<void>;
  /** Resolves waiting callers when the function becomes ready or fails. */
  settled: Array<() => void>;
  deleted: boolean;
}

/** Thrown by {@link Scheduler.acquire} when a function cannot take calls. */
export class NotServingError extends Error {
  override readonly name = "NotServingError";
}

/**
 * The function reconciler: follows the functions in the store, runs each
 * function's current revision in a {@link RevisionPool}, rolls out new
 * revisions (start, probe, move traffic, drain the old one), and writes what
 * it observes into status. READY means an instance of this generation passed
 * its readiness probe.
 */
export class Scheduler {
  private readonly states = new Map<string, FunctionState>();
  private readonly abort = new AbortController();
  private watching: Promise<void> | undefined;
  private readonly defaults: FunctionDefaults;
  /** The unpacked bundle each pool runs from, released when the pool has drained. */
  private readonly bundles = new WeakMap<RevisionPool, BundleHandle>();

  constructor(private readonly options: SchedulerOptions) {
    this.defaults = { ...functionDefaults, ...options.defaults };
  }

  /** Starts following the store; resolves once the existing functions are known. */
  async start(): Promise<void> {
    let synced!: () => void;
    const ready = new Promise<void>((resolve) => {
      synced = resolve;
    });
    this.watching = (async () => {
      try {
        for await (const event of this.options.store.watch("*.*", { signal: this.abort.signal })) {
          if (event.type === "synced") {
            synced();
            // Once the functions there are have their bundles, what else is
            // unpacked belongs to none (deleted while the control plane was down).
            void Promise.all([...this.states.values()].map((s) => s.queue))
              .then(() => this.options.bundles.sweep())
              .catch((err: unknown) => this.options.log("removing unused bundles", err));
          } else if (event.type === "deleted") this.remove(event.key);
          else this.observe(event.key, event.object);
        }
      } catch (err) {
        if (!this.abort.signal.aborted) this.options.log("the function watch ended", err);
      } finally {
        synced();
      }
    })();
    await ready;
  }

  /** Stops every function's instances. Status is left as it was (a restart re-observes it). */
  async close(): Promise<void> {
    this.closing = true;
    this.abort.abort();
    await this.watching;
    const states = [...this.states.values()];
    await Promise.all(states.flatMap((s) => [s.serving?.drain(), s.starting?.drain()]));
    await Promise.all(states.map((s) => s.queue));
    await this.options.driver.close();
  }

  private closing = false;

  /** The function as last seen by the watch (no store round trip), if known. */
  known(org: string, name: string): FunctionResource | undefined {
    return this.states.get(`${org}.${name}`)?.object;
  }

  /** Why the function cannot take calls (ERROR with no revision serving), or undefined when it can or may soon. */
  notServing(org: string, name: string): string | undefined {
    const state = this.states.get(`${org}.${name}`);
    if (!state || state.serving || state.phase !== Phase.ERROR) return undefined;
    return state.reason.join("; ") || "it is in ERROR";
  }

  /** How many functions are known and how many instances run, for status. */
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

  private readonly pendingKnown: Array<() => void> = [];

  private observe(key: string, object: FunctionResource): void {
    let state = this.states.get(key);
    if (!state) {
      state = {
        key,
        org: object.meta?.org ?? "",
        name: object.meta?.name ?? "",
        object,
        serving: undefined,
        servingGeneration: 0n,
        phase: object.status?.phase ?? Phase.INITIALIZED,
        reason: [],
        observed: 0n,
        queue: Promise.resolve(),
        settled: [],
        deleted: false,
      };
      this.states.set(key, state);
      for (const wake of this.pendingKnown.splice(0)) wake();
    }
    // A rollout still starting (e.g. waiting for the org's quota) is given up
    // for the newer spec, not waited for.
    if (state.starting && state.starting.revision.generation !== (object.meta?.generation ?? 0n)) {
      void state.starting.drain();
    }
    state.object = object;
    const s = state;
    s.queue = s.queue
      .then(() => this.reconcile(s))
      .catch((err: unknown) => this.options.log(`reconciling ${key}`, err));
  }

  private remove(key: string): void {
    const state = this.states.get(key);
    if (!state) return;
    state.deleted = true;
    this.states.delete(key);
    // At once, not after the rollout in progress: a deleted function starts
    // nothing more (starts waiting for the quota give up), and its instances stop.
    const starting = state.starting;
    const serving = state.serving;
    void starting?.drain();
    void serving?.drain();
    state.queue = state.queue.then(async () => {
      if (starting) await this.stopPool(starting);
      if (serving) await this.stopPool(serving);
      state.serving = undefined;
      this.settle(state);
      await this.options
        .onRemoved?.(state.org, state.name)
        .catch((err: unknown) => this.options.log(`removing ${state.key}`, err));
    });
  }

  private async reconcile(state: FunctionState): Promise<void> {
    if (state.deleted) return;
    const object = state.object;
    const generation = object.meta?.generation ?? 0n;
    const policy = this.policyOf(object);

    if (state.serving && generation === state.servingGeneration) return;
    // This generation already failed to start: wait for a new spec, not our own status writes.
    if (state.phase === Phase.ERROR && state.observed === generation) return;
    if (state.serving && sameCode(state.serving.revision, object, this.defaults)) {
      // Only the scale changed (or the spec went back to the code that is
      // serving, after a failed update): same revision, new bounds.
      state.serving.rescale(policy);
      state.servingGeneration = generation;
      state.observed = generation;
      if (state.phase === Phase.ERROR && !state.serving.lastFailure) {
        state.phase = Phase.READY;
        state.reason = [];
      }
      this.settle(state);
      await this.writeStatus(state);
      return;
    }

    // Already validated (READY at this generation) before a restart: serve
    // from zero without starting anything until the first call.
    const validated =
      !state.serving &&
      object.status?.phase === Phase.READY &&
      object.status.observedGeneration === generation &&
      policy.min === 0;

    let revision: RevisionSpec;
    let bundle: BundleHandle;
    try {
      ({ revision, bundle } = await this.revisionOf(object));
    } catch (err) {
      return await this.fail(state, generation, (err as Error).message);
    }
    const pool = new RevisionPool(
      revision,
      this.options.driver,
      policy,
      (event) => this.onPoolEvent(state, pool, event),
      this.options.quota,
    );
    this.bundles.set(pool, bundle);
    // Deleted or changed while the bundle was unpacked.
    if (state.deleted || state.object.meta?.generation !== generation) {
      await this.stopPool(pool);
      return;
    }
    if (!validated) {
      if (state.serving) state.phase = Phase.UPDATING;
      else state.phase = Phase.CREATING;
      await this.writeStatus(state);
      state.starting = pool;
      try {
        await pool.start({ rollout: state.serving !== undefined });
      } catch (err) {
        await this.stopPool(pool);
        // Given up for a newer spec or a delete: not a failure of this one.
        if (state.deleted || state.object.meta?.generation !== generation) return;
        return await this.fail(state, generation, (err as Error).message);
      } finally {
        if (state.starting === pool) state.starting = undefined;
      }
    }
    if (state.deleted || state.object.meta?.generation !== generation) {
      await this.stopPool(pool);
      return;
    }
    const old = state.serving;
    state.serving = pool;
    state.servingGeneration = generation;
    state.phase = Phase.READY;
    state.reason = [];
    state.observed = generation;
    this.settle(state);
    await this.writeStatus(state);
    // Move waiting callers to the new revision; calls in flight on the old one finish.
    if (old) await this.stopPool(old, pool);
  }

  /** Drains a pool (moving its waiting callers to `handover`), then lets its bundle go. */
  private async stopPool(pool: RevisionPool, handover?: RevisionPool): Promise<void> {
    try {
      await pool.drain(handover);
    } finally {
      this.bundles.get(pool)?.release();
    }
  }

  private async fail(state: FunctionState, generation: bigint, message: string): Promise<void> {
    state.observed = generation;
    if (state.serving) {
      state.phase = Phase.ERROR;
      state.reason = [
        `revision ${generation} failed to start: ${message}`,
        `revision ${state.servingGeneration} keeps serving`,
      ];
    } else {
      state.phase = Phase.ERROR;
      state.reason = [message];
    }
    this.settle(state);
    await this.writeStatus(state);
  }

  private onPoolEvent(state: FunctionState, pool: RevisionPool, event: PoolEvent): void {
    if (event.type === "quota") {
      if (this.closing || (state.serving !== pool && state.starting !== pool)) return;
      // Not queued: the rollout in the queue may be the very start that waits.
      // (Status writes are optimistic and derive from the state, so two at once are safe.)
      void this.writeStatus(state);
      return;
    }
    // Shutting down: instances end because the platform stops them.
    if (state.serving !== pool || this.closing) return;
    if (event.type === "crashed") {
      const how = describeExit(event.exit);
      const restart =
        event.restartInMs === undefined ? "" : `; restarting in ${(event.restartInMs / 1000).toFixed(1)}s`;
      state.crash = `instance ${event.instance} crashed (${how})`;
      state.reason = [`${state.crash}${restart}`];
      // The function's own failure, not the platform's: one line, no stack.
      this.options.log(`function ${state.org}/${state.name}`, state.reason[0]);
    } else if (event.type === "failed") {
      state.phase = Phase.ERROR;
      state.reason = [event.message];
    } else if (event.type === "ready" || event.type === "scaled" || event.type === "restarted") {
      if (state.phase === Phase.ERROR && state.observed === state.servingGeneration)
        state.phase = Phase.READY;
      // Serving again after a crash: say so, and keep what happened.
      if (event.type === "restarted" && state.crash && state.reason[0]?.startsWith(state.crash)) {
        state.reason = [`${state.crash}; restarted`];
      }
    }
    state.queue = state.queue.then(() => this.writeStatus(state)).catch(() => undefined);
  }

  private settle(state: FunctionState): void {
    for (const wake of state.settled.splice(0)) wake();
  }

  private policyOf(object: FunctionResource): ScalePolicy {
    const scale = object.spec?.scale;
    const idle = scale?.idleTimeout;
    return {
      min: scale?.min ?? 0,
      max: Math.max(1, scale?.max || this.defaults.maxInstances, scale?.min ?? 0),
      concurrency: scale?.concurrency || this.defaults.concurrency,
      idleMs: idle ? Number(idle.seconds) * 1000 + idle.nanos / 1e6 : this.defaults.idleMs,
    };
  }

  /** What the driver needs to run the object, with its bundle unpacked and held. */
  private async revisionOf(
    object: FunctionResource,
  ): Promise<{ revision: RevisionSpec; bundle: BundleHandle }> {
    const spec = object.spec;
    if (!spec?.source || spec.source.digest === "") {
      throw new Error('the function has no source: create it with "dispatch create function NAME PATH"');
    }
    const timeout = spec.timeout;
    const bundle = await this.options.bundles.acquire(spec.source);
    const revision = {
      org: object.meta?.org ?? "",
      name: object.meta?.name ?? "",
      uid: object.meta?.uid ?? "",
      generation: object.meta?.generation ?? 0n,
      runtime: spec.runtime,
      digest: spec.source.digest,
      handler: spec.handler,
      env: { ...spec.env },
      directory: bundle.directory,
      timeoutMs: timeout ? Number(timeout.seconds) * 1000 + timeout.nanos / 1e6 : this.defaults.timeoutMs,
      memory: spec.resources?.memory ?? "",
    };
    return { revision, bundle };
  }

  /**
   * Writes the observed state into the stored function's status, when it
   * changed. Never throws: status is re-derived on the next change, and a
   * failed write must not cut a rollout short (swap, settle and drain).
   */
  private async writeStatus(state: FunctionState): Promise<void> {
    try {
      await this.tryWriteStatus(state);
    } catch (err) {
      // Deleted between read and write: nothing to report on.
      if ((err as Error).name !== "NotFoundError" && !this.closing)
        this.options.log(`status of ${state.key}`, err);
    }
  }

  private async tryWriteStatus(state: FunctionState): Promise<void> {
    if (state.deleted || this.closing) return;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.options.store.get(state.key);
      if (!current || current.object.meta?.uid !== state.object.meta?.uid) return;
      const next = clone(FunctionSchema, current.object);
      const status = next.status;
      if (!status) return;
      const wanted = {
        phase: state.phase,
        reason: [...state.reason, ...quotaNote(state)],
        observedGeneration: state.observed,
        readyInstances: state.serving?.size ?? 0,
        endpoints: state.serving?.endpoints ?? [],
      };
      if (
        status.phase === wanted.phase &&
        status.observedGeneration === wanted.observedGeneration &&
        status.readyInstances === wanted.readyInstances &&
        status.reason.join("\n") === wanted.reason.join("\n") &&
        status.endpoints.join(",") === wanted.endpoints.join(",")
      ) {
        return;
      }
      Object.assign(status, wanted);
      status.conditions = [readyCondition(state, wanted.reason, status.conditions)];
      try {
        await this.options.store.update(state.key, next, current.revision, `function "${state.name}"`);
        return;
      } catch (err) {
        if ((err as Error).name !== "RevisionConflictError") throw err;
      }
    }
  }
}

/** Why instances of the function wait for the org's instance quota, if they do. */
function quotaNote(state: FunctionState): string[] {
  for (const pool of [state.serving, state.starting]) if (pool?.waitingForQuota) return [pool.quotaMessage()];
  return [];
}

function readyCondition(state: FunctionState, reason: string[], previous: readonly Condition[]): Condition {
  const ready = state.phase === Phase.READY;
  const status = ready
    ? ConditionStatus.TRUE
    : state.phase === Phase.ERROR
      ? ConditionStatus.FALSE
      : ConditionStatus.UNKNOWN;
  const before = previous.find((c) => c.type === "Ready");
  return create(ConditionSchema, {
    type: "Ready",
    status,
    reason: ready ? "InstanceReady" : state.phase === Phase.ERROR ? "StartFailed" : "Starting",
    message: reason.join("; "),
    lastTransition: before && before.status === status ? before.lastTransition : timestampNow(),
  });
}

/** Whether the object runs the same code as a running revision (only scale differs). */
function sameCode(revision: RevisionSpec, object: FunctionResource, defaults: FunctionDefaults): boolean {
  const spec = object.spec;
  if (!spec) return false;
  const timeout = spec.timeout;
  const timeoutMs = timeout ? Number(timeout.seconds) * 1000 + timeout.nanos / 1e6 : defaults.timeoutMs;
  const env = (e: Record<string, string>) => JSON.stringify(Object.entries(e).sort());
  return (
    revision.digest === (spec.source?.digest ?? "") &&
    revision.runtime === spec.runtime &&
    revision.handler === spec.handler &&
    revision.timeoutMs === timeoutMs &&
    revision.memory === (spec.resources?.memory ?? "") &&
    env(revision.env) === env(spec.env)
  );
}
