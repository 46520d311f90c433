import { type Function as FunctionResource, Phase } from "@dispatch/proto";
import { type Driver, describeExit, type ReconcileRequest, type RevisionSpec } from "@dispatch/server-kit";
import type { ErrorLogger } from "../errors.js";
import type { FunctionRegistry, FunctionState } from "./function-registry.js";
import { type FunctionDefaults, revisionSpecOf, sameCode, scalePolicyOf } from "./function-revision.js";
import { type FunctionStatusReport, statusReportOf } from "./function-status.js";
import type { InstanceQuota } from "./instance-quota.js";
import { type PoolEvent, RevisionPool } from "./revision-pool.js";

/** What {@link createFunctionReconciler} needs. */
export interface FunctionReconcilerOptions {
  registry: FunctionRegistry;
  driver: Driver;
  defaults: FunctionDefaults;
  /** Instances per org; default none. */
  quota?: InstanceQuota;
  /** Called once a deleted function's instances have stopped (calls in flight are done). */
  onRemoved?(org: string, name: string): Promise<void>;
  /** Writes the function's status now, outside the reconcile queue (what a pool tells). */
  report(state: FunctionState): void;
  /** True once the scheduler is shutting down: instances end because the platform stops them. */
  closing(): boolean;
  log: ErrorLogger;
}

/** The reconcile of one function, and what its revision pools tell. */
export interface FunctionReconciler {
  /**
   * Brings the function's key in line with its latest object: stops the
   * instances of deleted functions under the key, then serves the current
   * generation — rescaling the running revision when only the scale changed,
   * else starting the new revision, probing it, moving waiting callers over
   * and draining the old one. Returns the status to write.
   */
  reconcile(
    request: ReconcileRequest<FunctionResource, FunctionStatusReport>,
  ): Promise<FunctionStatusReport | undefined>;
}

/**
 * The function reconciler: READY means an instance of this generation passed
 * its readiness probe; a generation that fails to start leaves the one
 * serving in place (ERROR, saying both); a crash, a restart, a quota wait
 * are told in status as the pool reports them.
 */
export function createFunctionReconciler(options: FunctionReconcilerOptions): FunctionReconciler {
  const { registry, defaults } = options;

  /** Stops what a deleted function ran, then lets `onRemoved` clean up after it. Never throws. */
  async function cleanUp(state: FunctionState): Promise<void> {
    try {
      if (state.starting) await state.starting.drain();
      if (state.serving) await state.serving.drain();
    } catch (err) {
      options.log(`stopping the instances of ${state.key}`, err);
    }
    state.serving = undefined;
    registry.settle(state);
    await options
      .onRemoved?.(state.org, state.name)
      .catch((err: unknown) => options.log(`removing ${state.key}`, err));
  }

  async function fail(state: FunctionState, generation: bigint, message: string): Promise<void> {
    state.observed = generation;
    state.phase = Phase.ERROR;
    state.reason = state.serving
      ? [
          `revision ${generation} failed to start: ${message}`,
          `revision ${state.servingGeneration} keeps serving`,
        ]
      : [message];
    registry.settle(state);
  }

  function onPoolEvent(state: FunctionState, pool: RevisionPool, event: PoolEvent): void {
    // A worker busy with calls that did not come through the invoker: nothing to report.
    if (event.type === "busy") return;
    if (event.type === "quota") {
      if (options.closing() || (state.serving !== pool && state.starting !== pool)) return;
      // Written at once: the reconcile in progress may be the very start that waits.
      options.report(state);
      return;
    }
    // Shutting down: instances end because the platform stops them.
    if (state.serving !== pool || options.closing()) return;
    if (event.type === "crashed") {
      const how = describeExit(event.exit);
      const restart =
        event.restartInMs === undefined ? "" : `; restarting in ${(event.restartInMs / 1000).toFixed(1)}s`;
      state.crash = `instance ${event.instance} crashed (${how})`;
      state.reason = [`${state.crash}${restart}`];
      // The function's own failure, not the platform's: one line, no stack.
      options.log(`function ${state.org}/${state.name}`, state.reason[0]);
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
    options.report(state);
  }

  /** Serves the state's current generation (see {@link FunctionReconciler.reconcile}). */
  async function converge(
    state: FunctionState,
    request: ReconcileRequest<FunctionResource, FunctionStatusReport>,
  ): Promise<void> {
    const object = state.object;
    const generation = object.meta?.generation ?? 0n;
    const policy = scalePolicyOf(object, defaults);
    // Given up: deleted, a newer spec, or shutting down.
    const superseded = () =>
      state.deleted || state.object.meta?.generation !== generation || request.signal.aborted;

    if (state.serving && generation === state.servingGeneration) return;
    // This generation already failed to start: wait for a new spec.
    if (state.phase === Phase.ERROR && state.observed === generation) return;
    if (state.serving && sameCode(state.serving.revision, object, defaults)) {
      // Only the scale changed (or the spec went back to the code that is
      // serving, after a failed update): same revision, new bounds.
      state.serving.rescale(policy);
      state.servingGeneration = generation;
      state.observed = generation;
      if (state.phase === Phase.ERROR && !state.serving.lastFailure) {
        state.phase = Phase.READY;
        state.reason = [];
      }
      registry.settle(state);
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
    try {
      revision = revisionSpecOf(object, defaults);
    } catch (err) {
      return await fail(state, generation, (err as Error).message);
    }
    const pool: RevisionPool = new RevisionPool({
      revision,
      driver: options.driver,
      policy,
      onEvent: (event) => onPoolEvent(state, pool, event),
      ...(options.quota ? { quota: options.quota } : {}),
    });
    if (superseded()) return await pool.drain();
    if (!validated) {
      state.phase = state.serving ? Phase.UPDATING : Phase.CREATING;
      await request.report(statusReportOf(state));
      state.starting = pool;
      // A newer spec, a delete or the shutdown gives up this start (it may wait for the org's quota).
      const giveUp = () => void pool.drain();
      request.signal.addEventListener("abort", giveUp, { once: true });
      try {
        if (request.signal.aborted) throw request.signal.reason;
        await pool.start({ rollout: state.serving !== undefined });
      } catch (err) {
        await pool.drain();
        if (superseded()) return;
        return await fail(state, generation, (err as Error).message);
      } finally {
        request.signal.removeEventListener("abort", giveUp);
        if (state.starting === pool) state.starting = undefined;
      }
    }
    if (superseded()) return await pool.drain();
    const old = state.serving;
    state.serving = pool;
    state.servingGeneration = generation;
    state.phase = Phase.READY;
    state.reason = [];
    state.observed = generation;
    registry.settle(state);
    // READY before the old revision drains: its calls in flight may take a while.
    await request.report(statusReportOf(state));
    // Move waiting callers to the new revision; calls in flight on the old one finish.
    if (old) await old.drain(pool);
  }

  return {
    async reconcile(request) {
      for (const gone of registry.takeRemoved(request.key)) await cleanUp(gone);
      const state = registry.get(request.key);
      if (!state || request.object === undefined) return undefined;
      await converge(state, request);
      return state.deleted ? undefined : statusReportOf(state);
    },
  };
}
