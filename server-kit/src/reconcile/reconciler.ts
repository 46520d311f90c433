import { type BackoffOptions, backoffDelay, defaultBackoff } from "./backoff.js";
import type { ReconcileEvent } from "./events.js";
import type { LeaderGate } from "./leader-gate.js";
import { systemTimers, type Timers } from "./timers.js";

/** One run of the reconcile of one key. */
export interface ReconcileRequest<T, S> {
  readonly key: string;
  /** The latest object known for the key; undefined once it was deleted. */
  readonly object: T | undefined;
  /**
   * Aborted with a {@link ReconcileCancelledError} when this run's work is no
   * longer wanted: a newer change of the key arrived ("superseded": another run
   * follows at once), this process lost its leadership, or the reconciler is
   * closing. A long reconcile (a rollout waiting for an instance) listens to it.
   */
  readonly signal: AbortSignal;
  /** Failed runs of this key in a row before this one (0: the last one succeeded, or this is the first). */
  readonly retries: number;
  /**
   * Writes a status now, in the middle of a long run (CREATING before a start
   * that takes a while). Never rejects: a failed write is logged, and the
   * status the run returns is written with retries.
   */
  report(status: S): Promise<void>;
}

/** Options for {@link createReconciler}. */
export interface ReconcilerOptions<T, S> {
  /** The changes to follow: a store watch or a watch cache (see {@link ReconcileEvent}). */
  events: AsyncIterable<ReconcileEvent<T>>;
  /**
   * Brings the world in line with `request.object` (or cleans up after it,
   * once deleted), and returns the status to write, if any. Must be
   * idempotent: it runs again after a failure, a watch restart, a leadership
   * change. Throwing counts as a failure, retried with backoff.
   */
  reconcile(request: ReconcileRequest<T, S>): Promise<S | undefined>;
  /**
   * Writes a key's status (a compare-and-set with retries:
   * {@link updateWithRetries}). Writes of one key never overlap. A failure
   * of the write of a run's result fails the run (retried with backoff).
   * Without it, statuses are not written.
   */
  writeStatus?(key: string, status: S): Promise<void>;
  /**
   * Whether a change from `previous` to `next` needs a reconcile; default
   * always. A controller that writes its own status says no to status-only
   * changes (e.g. same `meta.generation`), so its writes do not wake it again
   * nor supersede a run in progress.
   */
  needsReconcile?(previous: T, next: T): boolean;
  /** Only the leader reconciles and writes status; default: always the leader. */
  leader?: LeaderGate;
  /** Keys reconciled at once; default no limit (one long reconcile never holds up another key). */
  concurrency?: number;
  /** Spacing of retries after failures (defaults: {@link defaultBackoff}). */
  backoff?: Partial<BackoffOptions>;
  /** Default Node's timers (unreferenced). */
  timers?: Timers;
  /** For the jitter of retries; default Math.random. */
  random?: () => number;
  /** Where failures go: a failed run (with its key), a failed status report, the end of the event feed. */
  log(message: string, error: unknown): void;
}

/** A running reconciler (see {@link createReconciler}). */
export interface Reconciler<T, S> {
  /**
   * Resolves once the first `synced` event arrived (every existing key is
   * known and queued); rejects when the event feed fails before that.
   */
  readonly synced: Promise<void>;
  /** The latest object known for the key, if it exists. */
  get(key: string): T | undefined;
  /** Reconciles the key again (something it depends on changed: an instance crashed, Envoy ACKed). */
  enqueue(key: string): void;
  /**
   * Writes the key's status now, outside the queue (but never overlapping
   * another write of the key): `status` is asked for when the write's turn
   * comes, so it is as fresh as it can be. Never rejects; failures are logged.
   */
  report(key: string, status: () => S | undefined): Promise<void>;
  /** Resolves when nothing runs, nothing can run now, no retry is pending, and no status write is in flight. */
  idle(): Promise<void>;
  /**
   * Stops: no more runs start, the running ones' signals abort (their end is
   * awaited), pending retries are dropped. Events that still arrive are
   * ignored; ending the event feed is the feed owner's part.
   */
  close(): Promise<void>;
}

/** Why a reconcile's signal aborted. */
export class ReconcileCancelledError extends Error {
  override readonly name = "ReconcileCancelledError";
  constructor(readonly why: "superseded" | "leadership-lost" | "closing") {
    super(
      why === "superseded"
        ? "a newer change of the object arrived"
        : why === "leadership-lost"
          ? "this process is no longer the leader"
          : "the reconciler is closing",
    );
  }
}

/** What the reconciler keeps per key. */
interface Entry<T> {
  key: string;
  /** The latest object; undefined once deleted. */
  object: T | undefined;
  revision: bigint;
  /** Changed since its last run started: needs a run. */
  dirty: boolean;
  /** In the ready queue. */
  queued: boolean;
  /** The run in progress, if any. */
  running: AbortController | undefined;
  /** Failed runs in a row. */
  failures: number;
  /** The timer of a pending retry. */
  retry: unknown;
}

/**
 * The reconcile loop every Dispatch controller runs (Kubernetes' informer +
 * work queue, Knative's controller): follow a feed of changes, keep the
 * latest object per key, and reconcile each key
 *
 * - **one run at a time per key**: changes that arrive during a run coalesce
 *   into one more run, with the latest object (latest state wins); a change
 *   that needs a reconcile aborts the running one's signal;
 * - **with retries**: a run that throws is retried with exponential backoff and
 *   jitter, until it succeeds or a newer change replaces it;
 * - **resynced**: after the feed restarts (a later `synced`) or this process
 *   becomes the leader, every key is reconciled again;
 * - **leader-gated**: only the leader runs reconciles and writes status;
 *   losing leadership aborts the runs in progress and starts no new ones.
 *
 * The status a run returns is written through `writeStatus`.
 *
 * @example
 * const reconciler = createReconciler({
 *   events: storeEvents,
 *   reconcile: async ({ key, object, signal }) => (object ? await program(object, signal) : await unprogram(key)),
 *   writeStatus: (key, status) => writeWithRetries(key, status),
 *   log: (message, error) => console.error(message, error),
 * });
 * await reconciler.synced;
 * // ...
 * await reconciler.close();
 */
export function createReconciler<T, S>(options: ReconcilerOptions<T, S>): Reconciler<T, S> {
  const entries = new Map<string, Entry<T>>();
  const ready: string[] = [];
  const writes = new Map<string, Promise<void>>();
  const running = new Set<Promise<void>>();
  const idleWaiters: Array<() => void> = [];
  const timers = options.timers ?? systemTimers;
  const random = options.random ?? Math.random;
  const backoff = { ...defaultBackoff, ...options.backoff };
  const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
  const isLeader = () => options.leader?.isLeader() ?? true;
  let closed = false;
  let syncedOnce = false;

  let resolveSynced!: () => void;
  let rejectSynced!: (err: unknown) => void;
  const synced = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve;
    rejectSynced = reject;
  });
  // A feed that fails is also logged: nobody need wait on `synced` to learn of it.
  synced.catch(() => undefined);

  const stopFollowingLeader = options.leader?.onChange((leader) => {
    if (closed) return;
    if (leader) {
      // What happened while another process led is not known: look at everything.
      for (const entry of entries.values()) schedule(entry, false);
    } else {
      for (const entry of entries.values())
        entry.running?.abort(new ReconcileCancelledError("leadership-lost"));
    }
    pump();
  });

  void (async () => {
    try {
      for await (const event of options.events) {
        if (closed) return;
        observe(event);
      }
      if (!closed) options.log("the event feed ended; changes are no longer followed", undefined);
      if (!syncedOnce) rejectSynced(new Error("the event feed ended before it was synced"));
    } catch (err) {
      if (closed) return;
      options.log("the event feed failed; changes are no longer followed", err);
      rejectSynced(err);
    }
  })();

  function observe(event: ReconcileEvent<T>): void {
    if (event.type === "synced") {
      if (!syncedOnce) {
        syncedOnce = true;
        resolveSynced();
        return;
      }
      // The feed restarted: changes may have been missed in between.
      for (const entry of entries.values()) schedule(entry, false);
      pump();
      return;
    }
    let entry = entries.get(event.key);
    // A change seen already (a feed that resumed a little early) or older than one seen.
    if (entry && event.revision <= entry.revision) return;
    if (event.type === "delete") {
      if (!entry || entry.object === undefined) return;
      entry.object = undefined;
      entry.revision = event.revision;
      schedule(entry, true);
      pump();
      return;
    }
    const previous = entry?.object;
    if (!entry) {
      entry = {
        key: event.key,
        object: undefined,
        revision: 0n,
        dirty: false,
        queued: false,
        running: undefined,
        failures: 0,
        retry: undefined,
      };
      entries.set(event.key, entry);
    }
    entry.object = event.object;
    entry.revision = event.revision;
    if (previous === undefined || (options.needsReconcile?.(previous, event.object) ?? true)) {
      schedule(entry, true);
      pump();
    }
  }

  /** Marks the key for a run: now, or once the run in progress is over (which `supersede` aborts). */
  function schedule(entry: Entry<T>, supersede: boolean): void {
    entry.dirty = true;
    if (entry.retry !== undefined) {
      timers.clearTimeout(entry.retry);
      entry.retry = undefined;
    }
    if (entry.running) {
      if (supersede) entry.running.abort(new ReconcileCancelledError("superseded"));
      return;
    }
    if (!entry.queued) {
      entry.queued = true;
      ready.push(entry.key);
    }
  }

  /** Starts runs from the ready queue while this process leads and the concurrency allows. */
  function pump(): void {
    while (!closed && isLeader() && running.size < concurrency && ready.length > 0) {
      const key = ready.shift() as string;
      const entry = entries.get(key);
      if (!entry) continue;
      entry.queued = false;
      if (!entry.dirty || entry.running) continue;
      const run = runOnce(entry);
      running.add(run);
      void run.finally(() => {
        running.delete(run);
        pump();
        checkIdle();
      });
    }
    checkIdle();
  }

  async function runOnce(entry: Entry<T>): Promise<void> {
    const { key } = entry;
    entry.dirty = false;
    const controller = new AbortController();
    entry.running = controller;
    let failure: { error: unknown } | undefined;
    try {
      const status = await options.reconcile({
        key,
        object: entry.object,
        signal: controller.signal,
        retries: entry.failures,
        report: (value) => report(key, () => value),
      });
      if (status !== undefined) await write(key, () => status);
    } catch (error) {
      failure = { error };
    } finally {
      entry.running = undefined;
    }
    if (closed) return;
    if (!failure) {
      entry.failures = 0;
      // A deletion reconciled: the key is forgotten (unless it came back meanwhile).
      if (entry.object === undefined && !entry.dirty) entries.delete(key);
    } else if (!controller.signal.aborted) {
      entry.failures++;
      if (!entry.dirty) {
        const delay = backoffDelay(entry.failures, backoff, random);
        options.log(
          `reconciling ${key} failed (${entry.failures} time${entry.failures === 1 ? "" : "s"} in a row); retrying in ${delay} ms`,
          failure.error,
        );
        entry.retry = timers.setTimeout(() => {
          entry.retry = undefined;
          if (closed) return;
          schedule(entry, false);
          pump();
        }, delay);
      } else {
        options.log(`reconciling ${key} failed; a newer change is reconciled now`, failure.error);
      }
    }
    // A run cut short by a lost leadership is not retried: becoming the leader again resyncs.
    if (entry.dirty) schedule(entry, false);
  }

  /** Writes a status through the key's chain of writes; rejects when the write fails. */
  function write(key: string, status: () => S | undefined): Promise<void> {
    const previous = writes.get(key) ?? Promise.resolve();
    const done = previous.then(async () => {
      if (closed || !isLeader() || !options.writeStatus) return;
      const value = status();
      if (value !== undefined) await options.writeStatus(key, value);
    });
    const tail = done.catch(() => undefined);
    writes.set(key, tail);
    void tail.then(() => {
      if (writes.get(key) === tail) writes.delete(key);
      checkIdle();
    });
    return done;
  }

  function report(key: string, status: () => S | undefined): Promise<void> {
    return write(key, status).catch((err: unknown) => options.log(`status of ${key}`, err));
  }

  function isIdle(): boolean {
    if (running.size > 0 || writes.size > 0) return false;
    for (const entry of entries.values()) {
      if (entry.retry !== undefined) return false;
      if (entry.dirty && isLeader() && !closed) return false;
    }
    return true;
  }

  function checkIdle(): void {
    if (idleWaiters.length === 0 || !isIdle()) return;
    for (const wake of idleWaiters.splice(0)) wake();
  }

  return {
    synced,
    get: (key) => entries.get(key)?.object,
    enqueue(key) {
      const entry = entries.get(key);
      if (!entry || closed) return;
      schedule(entry, false);
      pump();
    },
    report,
    idle() {
      return new Promise((resolve) => {
        idleWaiters.push(resolve);
        checkIdle();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      stopFollowingLeader?.();
      for (const entry of entries.values()) {
        if (entry.retry !== undefined) timers.clearTimeout(entry.retry);
        entry.retry = undefined;
        entry.running?.abort(new ReconcileCancelledError("closing"));
      }
      await Promise.all([...running, ...writes.values()]);
      if (!syncedOnce) rejectSynced(new ReconcileCancelledError("closing"));
      checkIdle();
    },
  };
}
