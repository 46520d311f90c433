import {
  type Driver,
  type InstanceEndpoint,
  type InstanceEvent,
  type InstanceExit,
  type IsolationReport,
  type RevisionSpec,
  revisionKey,
  type ScaleOptions,
} from "@dispatch/server-kit";
import { EventFeed } from "./event-feed.js";

/** An instance as its launcher started it: where it listens, when it ends, how to stop it. */
export interface LaunchedInstance extends InstanceEndpoint {
  /** Resolves when the instance has ended, however it ended (`stopped` once {@link stop} was called). */
  exited: Promise<InstanceExit>;
  /** Stops it: it drains (calls in flight finish, up to `drainMs`), then whatever is left of it is killed. */
  stop(drainMs?: number): Promise<void>;
}

/**
 * Starts one instance of the revision under `id` and resolves once it passed
 * its readiness probe; rejects when it cannot (a LoadError in the runtime's
 * words). When `signal` aborts first, it stops what it started and rejects.
 */
export type Launch = (revision: RevisionSpec, id: string, signal: AbortSignal) => Promise<LaunchedInstance>;

/** How long a lost instance waits for its replacement: doubling from `initialMs` to `maxMs`, from the start again after `resetMs` without a loss. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  resetMs: number;
}

/** 0.5 s doubling to 30 s, reset after a minute without a crash (the kubelet's CrashLoopBackOff, shorter). */
export const defaultBackoff: Backoff = { initialMs: 500, maxMs: 30_000, resetMs: 60_000 };

/** A running instance, and whether it was told to stop. */
interface Running {
  instance: LaunchedInstance;
  stopping: boolean;
}

/**
 * The instances of one revision kept at a desired count, as a Kubernetes
 * ReplicaSet with its kubelets does: it starts what is missing, stops what is
 * too many (those still starting first, then the newest; or the ones it is
 * told to), and replaces an instance that crashed or never became ready after
 * a backoff (one timer, the latest backoff; when it fires it starts as many as
 * are missing). Lowering the replicas before the timer fires cancels the
 * replacement. Everything it observes goes out as {@link InstanceEvent}s.
 */
export class ReplicaSet {
  private replicas = 0;
  private readonly starting = new Map<string, AbortController>();
  private readonly running = new Map<string, Running>();
  /** Launches and exits still to settle (removal waits for them). */
  private readonly pending = new Set<Promise<void>>();
  private restartsDue = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private losses = 0;
  private lastLoss = 0;
  private removed = false;
  private readonly feed = new EventFeed<InstanceEvent>(() => this.checkIdle());

  /**
   * @param onIdle called when the set has nothing (no replicas, instances or
   * restarts due) and nobody follows it: its driver may forget it.
   */
  constructor(
    readonly revision: RevisionSpec,
    private readonly launch: Launch,
    private readonly nextId: () => string,
    private readonly backoff: Backoff = defaultBackoff,
    private readonly onIdle: () => void = () => {},
  ) {}

  /** Nothing runs, starts, ends or is due, none is wanted, and nobody follows. */
  get idle(): boolean {
    return (
      !this.removed &&
      this.replicas === 0 &&
      this.starting.size === 0 &&
      this.running.size === 0 &&
      this.pending.size === 0 &&
      this.restartsDue === 0 &&
      this.feed.size === 0
    );
  }

  private checkIdle(): void {
    if (this.idle) this.onIdle();
  }

  /** Sets the desired count; stops the named instances first (see {@link ScaleOptions}). */
  scale(replicas: number, options: ScaleOptions = {}): void {
    if (this.removed) return;
    this.replicas = Math.max(0, Math.floor(replicas));
    for (const id of options.stop ?? []) this.stopOne(id, options.drainMs);
    this.reconcile();
    this.checkIdle();
  }

  /** The instances there are (starting, then ready), then every change. */
  subscribe(signal: AbortSignal): AsyncIterable<InstanceEvent> {
    const initial: InstanceEvent[] = [];
    for (const id of this.starting.keys()) initial.push({ type: "starting", id });
    for (const [id, { instance, stopping }] of this.running) {
      // A stopping instance still counts (its process runs), but takes no calls.
      initial.push({ type: "starting", id });
      if (!stopping) initial.push({ type: "ready", instance: endpointOf(instance) });
    }
    return this.feed.subscribe(signal, initial);
  }

  /**
   * Stops every instance (calls in flight finish, up to `drainMs`), starts
   * nothing more, and resolves once each has ended and been reported; then
   * the subscriptions end.
   */
  async remove(drainMs?: number): Promise<void> {
    this.removed = true;
    this.replicas = 0;
    this.restartsDue = 0;
    clearTimeout(this.restartTimer);
    for (const abort of this.starting.values()) abort.abort();
    for (const id of this.running.keys()) this.stopOne(id, drainMs);
    while (this.pending.size > 0) await Promise.all(this.pending);
    this.feed.end();
  }

  /** Instances that count towards the replicas: starting, or running and not told to stop. */
  private get active(): number {
    let n = this.starting.size;
    for (const r of this.running.values()) if (!r.stopping) n++;
    return n;
  }

  private reconcile(): void {
    if (this.removed) return;
    let surplus = this.active + this.restartsDue - this.replicas;
    if (surplus > 0) {
      const cancelled = Math.min(surplus, this.restartsDue);
      this.restartsDue -= cancelled;
      surplus -= cancelled;
      if (this.restartsDue === 0) clearTimeout(this.restartTimer);
      // As a ReplicaSet scales down: what is not ready yet first, then the newest.
      for (const id of [...this.starting.keys()].reverse()) {
        if (surplus <= 0) break;
        this.stopOne(id);
        surplus--;
      }
      for (const [id, r] of [...this.running].reverse()) {
        if (surplus <= 0) break;
        if (r.stopping) continue;
        this.stopOne(id);
        surplus--;
      }
    }
    while (this.active + this.restartsDue < this.replicas) this.startOne();
  }

  private startOne(): void {
    const id = this.nextId();
    const abort = new AbortController();
    this.starting.set(id, abort);
    this.feed.publish({ type: "starting", id });
    this.track(
      this.launch(this.revision, id, abort.signal).then(
        (instance) => this.onStarted(id, abort.signal, instance),
        (err: unknown) => this.onFailed(id, abort.signal, err),
      ),
    );
  }

  private onStarted(id: string, aborted: AbortSignal, instance: LaunchedInstance): void {
    this.starting.delete(id);
    const entry: Running = { instance, stopping: false };
    this.running.set(id, entry);
    this.track(instance.exited.then((exit) => this.onExit(id, exit)));
    // Not wanted any more while it started: it never takes a call.
    if (aborted.aborted || this.removed) {
      entry.stopping = true;
      void instance.stop(0);
      return;
    }
    this.feed.publish({ type: "ready", instance: endpointOf(instance) });
  }

  private onFailed(id: string, aborted: AbortSignal, err: unknown): void {
    this.starting.delete(id);
    if (aborted.aborted || this.removed) {
      this.feed.publish({ type: "gone", id, exit: { code: null, signal: null, stopped: true } });
      return;
    }
    const error = err instanceof Error ? err : new Error(String(err));
    const restartInMs = this.lost();
    this.feed.publish({
      type: "failed",
      id,
      error,
      ...(restartInMs === undefined ? {} : { restartInMs }),
    });
  }

  private onExit(id: string, exit: InstanceExit): void {
    const entry = this.running.get(id);
    if (!entry) return;
    this.running.delete(id);
    if (entry.stopping || exit.stopped || this.removed) {
      this.feed.publish({ type: "gone", id, exit: { ...exit, stopped: true } });
      return;
    }
    const restartInMs = this.lost();
    this.feed.publish({ type: "gone", id, exit, ...(restartInMs === undefined ? {} : { restartInMs }) });
  }

  /**
   * An instance was lost (crashed, or never became ready): while the replicas
   * still want it, a replacement is due after the backoff. Returns that
   * backoff, or undefined when none is due.
   */
  private lost(): number | undefined {
    const now = Date.now();
    this.losses = now - this.lastLoss > this.backoff.resetMs ? 1 : this.losses + 1;
    this.lastLoss = now;
    if (this.active + this.restartsDue >= this.replicas) return undefined;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (this.losses - 1));
    this.restartsDue++;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartsDue = 0;
      this.reconcile();
    }, delay);
    // A restart alone does not keep the process alive (shutdown stops every revision anyway).
    this.restartTimer.unref();
    return delay;
  }

  /** Stops one instance: aborts it while it starts, else stops it (drained up to `drainMs`). */
  private stopOne(id: string, drainMs?: number): void {
    const starting = this.starting.get(id);
    if (starting) {
      this.starting.delete(id);
      starting.abort();
      return;
    }
    const entry = this.running.get(id);
    if (!entry || entry.stopping) return;
    entry.stopping = true;
    void entry.instance.stop(drainMs);
  }

  private track(work: Promise<void>): void {
    const settled = work.catch(() => undefined);
    this.pending.add(settled);
    void settled.finally(() => {
      this.pending.delete(settled);
      this.checkIdle();
    });
  }
}

/** What {@link createReplicaDriver} builds a driver from. */
export interface ReplicaDriverOptions {
  name: string;
  isolation?: IsolationReport;
  /** Starts one instance (a worker process, for the local driver). */
  launch: Launch;
  /** Called once a revision was removed and its instances have ended: release what it held. */
  onRemoved?(revision: RevisionSpec): void | Promise<void>;
  /** Called by `close`, once every revision was removed. */
  onClose?(): Promise<void>;
  backoff?: Backoff;
  /** How long `close` lets calls in flight finish; default 3 s. */
  closeDrainMs?: number;
}

/**
 * A {@link Driver} that keeps each revision's instances with a
 * {@link ReplicaSet} and starts them with `launch`: the local driver is one,
 * with worker processes; tests make one with instances that are plain objects.
 */
export function createReplicaDriver(options: ReplicaDriverOptions): Driver {
  const sets = new Map<string, ReplicaSet>();
  let counter = 0;
  let closed = false;
  const setOf = (revision: RevisionSpec): ReplicaSet => {
    const key = revisionKey(revision);
    let set = sets.get(key);
    if (!set) {
      const created: ReplicaSet = new ReplicaSet(
        revision,
        options.launch,
        () => `${revision.name}-${revision.generation}-${++counter}`,
        options.backoff,
        // An idle revision is forgotten (a function at zero costs nothing here); the next scale makes it again.
        () => {
          if (sets.get(key) === created) sets.delete(key);
        },
      );
      sets.set(key, created);
      set = created;
    }
    return set;
  };
  const remove = async (revision: RevisionSpec, drainMs?: number): Promise<void> => {
    const key = revisionKey(revision);
    const set = sets.get(key);
    if (!set) return;
    sets.delete(key);
    await set.remove(drainMs);
    await options.onRemoved?.(revision);
  };
  return {
    name: options.name,
    ...(options.isolation ? { isolation: options.isolation } : {}),
    scale(revision, replicas, scaleOptions) {
      if (!closed) setOf(revision).scale(replicas, scaleOptions);
    },
    instances(revision, signal) {
      if (closed) return new EventFeed<InstanceEvent>().subscribe(AbortSignal.abort());
      return setOf(revision).subscribe(signal);
    },
    remove,
    async close() {
      closed = true;
      await Promise.all([...sets.values()].map((set) => remove(set.revision, options.closeDrainMs ?? 3000)));
      await options.onClose?.();
    },
  };
}

function endpointOf(instance: LaunchedInstance): InstanceEndpoint {
  return { id: instance.id, url: instance.url, token: instance.token };
}
