import type { Function as FunctionResource } from "@dispatch/proto";
import {
  createReconciler,
  type Driver,
  type LeaderGate,
  type ReconcileEvent,
  type Reconciler,
} from "@dispatch/server-kit";
import type { ErrorLogger } from "../errors.js";
import type { ResourceStore } from "../store/resource-store.js";
import { storeEvents } from "../store/store-events.js";
import { createFunctionReconciler } from "./function-reconciler.js";
import { FunctionRegistry } from "./function-registry.js";
import { type FunctionDefaults, functionDefaults } from "./function-revision.js";
import { type FunctionStatusReport, statusReportOf, writeFunctionStatus } from "./function-status.js";
import type { InstanceQuota } from "./instance-quota.js";
import type { Lease } from "./revision-pool.js";

export { NotServingError } from "./function-registry.js";
export { type FunctionDefaults, functionDefaults } from "./function-revision.js";

/** Options for {@link Scheduler}. */
export interface SchedulerOptions {
  store: ResourceStore<FunctionResource>;
  driver: Driver;
  defaults?: Partial<FunctionDefaults>;
  /** Instances per org; default none. */
  quota?: InstanceQuota;
  /**
   * Among replicas, the one that writes function status (every replica
   * reconciles, to serve calls from its own pools); default: this one.
   */
  leader?: LeaderGate;
  /** Called once a deleted function's instances have stopped (calls in flight are done). */
  onRemoved?(org: string, name: string): Promise<void>;
  /** How often the leader asks a persistent driver to sweep revisions nobody wants; default 60 s. */
  sweepIntervalMs?: number;
  log: ErrorLogger;
}

/**
 * The function scheduler: follows the functions in the store and runs each
 * one's current revision, on the reconcile kit of `@dispatch/server-kit`. The
 * watch feeds the {@link FunctionRegistry} (what the invoker reads) at once
 * and the reconciler, which runs the reconcile of one function at a time per
 * function (`function-reconciler.ts`: rollouts, rescale, failures) and writes
 * what it observes into status (`function-status.ts`) with retries.
 */
export class Scheduler {
  private readonly registry = new FunctionRegistry();
  /** Ends the function watch. */
  private readonly watch = new AbortController();
  private reconciler: Reconciler<FunctionResource, FunctionStatusReport> | undefined;
  private readonly defaults: FunctionDefaults;
  private closing = false;
  private stopFollowingLeader: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(private readonly options: SchedulerOptions) {
    this.defaults = { ...functionDefaults, ...options.defaults };
  }

  /** Starts following the store; resolves once the existing functions are known. */
  async start(): Promise<void> {
    const { store, log } = this.options;
    const functions = createFunctionReconciler({
      registry: this.registry,
      driver: this.options.driver,
      defaults: this.defaults,
      ...(this.options.quota ? { quota: this.options.quota } : {}),
      ...(this.options.onRemoved ? { onRemoved: this.options.onRemoved } : {}),
      report: (state) => void this.reconciler?.report(state.key, () => statusReportOf(state)),
      closing: () => this.closing,
      log,
    });
    const reconciler = createReconciler<FunctionResource, FunctionStatusReport>({
      events: observed(storeEvents(store, "*.*", { signal: this.watch.signal, log }), (event) =>
        this.registry.observe(event),
      ),
      reconcile: (request) => functions.reconcile(request),
      // Every replica reconciles (each serves calls from its own pools, on the same
      // instances); only the leader writes status, and its driver writes to the cluster.
      writeStatus: (key, report) =>
        this.leads() ? writeFunctionStatus(store, key, () => this.freshest(key, report)) : Promise.resolve(),
      // Its own status writes neither wake nor interrupt a function's reconcile: only a new spec does.
      needsReconcile: (previous, next) =>
        previous.meta?.generation !== next.meta?.generation || previous.meta?.uid !== next.meta?.uid,
      log,
    });
    this.reconciler = reconciler;
    // A new leader writes what it sees: the last one's last words may be stale.
    this.stopFollowingLeader = this.options.leader?.onChange((leader) => {
      if (!leader) return;
      for (const state of this.registry.all()) void reconciler.report(state.key, () => statusReportOf(state));
      void this.sweep();
    });
    await reconciler.synced;
    void this.sweep();
    if (this.options.driver.sweep) {
      this.sweeper = setInterval(() => void this.sweep(), this.options.sweepIntervalMs ?? 60_000);
      this.sweeper.unref();
    }
  }

  /**
   * The status of the function under `key` as the scheduler sees it now, if
   * it is still the function `report` is about; nothing once it was deleted
   * or the scheduler is closing.
   */
  private freshest(key: string, report: FunctionStatusReport): FunctionStatusReport | undefined {
    const state = this.registry.get(key);
    if (this.closing || !state || state.object.meta?.uid !== report.uid) return undefined;
    return statusReportOf(state);
  }

  /** Stops every function's instances (unless the driver's outlive it: pods). Status is left as it was (a restart re-observes it). */
  async close(): Promise<void> {
    this.closing = true;
    this.stopFollowingLeader?.();
    clearInterval(this.sweeper);
    // The reconciler first: the watch ending is then no news to it.
    const reconciling = this.reconciler?.close();
    this.watch.abort();
    // Pods outlive the control plane: the next one adopts them, so they are left running.
    const states = this.options.driver.persistent ? [] : this.registry.all();
    await Promise.all([reconciling, ...states.flatMap((s) => [s.serving?.drain(), s.starting?.drain()])]);
    await this.options.driver.close();
  }

  /**
   * Once every function was reconciled (each wanted revision has its pool),
   * asks a driver whose instances outlive the control plane to remove the
   * revisions nobody wants: a rollout an earlier control plane did not
   * finish, a function deleted while none ran. The leader's job.
   */
  private async sweep(): Promise<void> {
    const { driver, log } = this.options;
    if (!driver.sweep || this.sweeping || this.closing) return;
    this.sweeping = true;
    try {
      await this.reconciler?.idle();
      if (this.closing || !this.leads()) return;
      const removed = await driver.sweep((revision) => {
        const state = this.registry.get(`${revision.org}.${revision.name}`);
        if (!state || state.object.meta?.uid !== revision.uid) return false;
        return [
          state.object.meta?.generation,
          state.serving?.revision.generation,
          state.starting?.revision.generation,
        ].includes(revision.generation);
      });
      if (removed.length > 0)
        log(`removed what no function wants any more: ${removed.join(", ")}`, undefined);
    } catch (err) {
      log("sweeping revisions nobody wants", err);
    } finally {
      this.sweeping = false;
    }
  }

  /** Whether this replica writes function status: the leader, or the only one. */
  private leads(): boolean {
    return this.options.leader?.isLeader() ?? true;
  }

  /** The function as last seen by the watch (no store round trip), if known. */
  known(org: string, name: string): FunctionResource | undefined {
    return this.registry.known(org, name);
  }

  /** Why the function cannot take calls (ERROR with no revision serving), or undefined when it can or may soon. */
  notServing(org: string, name: string): string | undefined {
    return this.registry.notServing(org, name);
  }

  /** How many functions are known and how many instances run, for status. */
  summary(): { functions: number; instances: number } {
    return this.registry.summary();
  }

  /** A free call slot on a warm instance, at once, or undefined. */
  tryAcquire(org: string, name: string): { lease: Lease; object: FunctionResource } | undefined {
    return this.registry.tryAcquire(org, name);
  }

  /**
   * A call slot on a ready instance of the function, waking it when it runs
   * no instance (the activator's job). Waits while the function is being
   * created; fails with {@link NotServingError} when it cannot serve.
   */
  acquire(
    org: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<{ lease: Lease; object: FunctionResource }> {
    return this.registry.acquire(org, name, signal);
  }
}

/** The events, each shown to `observe` before it is passed on. */
async function* observed<T>(
  events: AsyncIterable<ReconcileEvent<T>>,
  observe: (event: ReconcileEvent<T>) => void,
): AsyncGenerator<ReconcileEvent<T>> {
  for await (const event of events) {
    observe(event);
    yield event;
  }
}
