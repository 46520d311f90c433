import { setMaxListeners } from "node:events";
import type {
  Driver,
  InstanceEndpoint,
  InstanceEvent,
  InstanceExit,
  RevisionSpec,
  ScaleOptions,
} from "@dispatch/server-kit";
import { type ScalePolicy, wantedReplicas } from "./autoscale.js";
import type { Instance } from "./instance.js";
import { InstanceQuota, InstanceQuotaError, type QuotaSlot } from "./instance-quota.js";
import { fetchWorkerStats, type StatsAnswer } from "./worker-client.js";

export type { ScalePolicy } from "./autoscale.js";
export type { Instance };

/** Something that happened to a pool, for the function's status. */
export type PoolEvent =
  | { type: "ready"; instances: number }
  | { type: "scaled"; instances: number }
  | { type: "crashed"; instance: string; exit: InstanceExit; restartInMs: number | undefined }
  | { type: "restarted"; instances: number }
  | { type: "failed"; message: string }
  /** Starts wait for the org's instance quota (`message` says so), or no longer do (undefined). */
  | { type: "quota"; message: string | undefined }
  /**
   * An instance's idle time was up, but its worker reports calls in flight or
   * recent activity (calls that did not come through the invoker), or did not
   * answer in time: it stays, and is looked at again later.
   */
  | { type: "busy"; instance: string; inFlight: number };

/** A slot on one instance, held for one call. */
export interface Lease {
  instance: Instance;
  /** Gives the slot back. */
  release(): void;
  /**
   * The instance is wedged: it takes no more calls, is stopped at once, and a
   * replacement starts when the pool needs one (below `min`, or callers wait).
   */
  retire(): void;
  /**
   * The instance refused a connection (its process is ending): it takes no
   * more calls; its exit is handled as a crash when it comes.
   */
  unreachable(): void;
}

/** What a {@link RevisionPool} is made of. */
export interface RevisionPoolOptions {
  revision: RevisionSpec;
  driver: Driver;
  policy: ScalePolicy;
  onEvent(event: PoolEvent): void;
  /** The org's instance quota; default none. */
  quota?: InstanceQuota;
  /** Reads a worker's load report; default `GET /stats` ({@link fetchWorkerStats}). */
  stats?(instance: InstanceEndpoint): Promise<StatsAnswer>;
  /** How often the load report of every ready instance is read; default 1 s (Knative scrapes as often). */
  statsIntervalMs?: number;
}

interface Member {
  instance: Instance;
  /** Resolves `instance.exited`. */
  ended(exit: InstanceExit): void;
  /** Slots handed out (the invoker's calls in flight). */
  inflight: number;
  /** Calls in flight by the worker's last load report, whoever sent them. */
  reported: number;
  idleTimer: NodeJS.Timeout | undefined;
  /** Refused a connection: not handed out again. */
  unreachable?: boolean;
  /** Called when the last call in flight ends (drain waits on it). */
  onDrained?: () => void;
}

/** A caller waiting for a slot. Settles once; a lease that arrives after it gave up is given back. */
interface Waiter {
  resolve(lease: Lease): void;
  reject(err: Error): void;
  signal: AbortSignal | undefined;
}

/** How long a load report may take before the worker is taken to be busy. */
const statsTimeoutMs = 5000;

/**
 * The instances of one function revision, reconciled against its driver: the
 * pool decides how many instances the revision should run (its desired
 * replicas) and tells the driver (`scale`); the driver reports what runs
 * (`instances`), restarts crashes itself, and the pool follows. The pool hands
 * out call slots (at most `concurrency` per instance), raises the replicas
 * when calls wait or the workers' load reports say they are busy — calls that
 * reach workers without the invoker (the data plane's warm path) included —
 * up to `max` (from zero too: this is the activator's wake-up), and stops an
 * instance that has been idle for `idleMs` down to `min`, unless its worker
 * reports calls in flight or recent activity. Every replica first takes a
 * slot in the org's {@link InstanceQuota} (kept until its instance has ended),
 * waiting in line when the org is at its quota; a drained pool gives up its
 * place and starts nothing more.
 */
export class RevisionPool {
  readonly revision: RevisionSpec;
  private readonly driver: Driver;
  private policy: ScalePolicy;
  private readonly onEvent: (event: PoolEvent) => void;
  private readonly quota: InstanceQuota;
  private readonly stats: (instance: InstanceEndpoint) => Promise<StatsAnswer>;
  private readonly statsIntervalMs: number;

  /** Ready instances, by id. */
  private readonly members = new Map<string, Member>();
  /** Instances the pool took out (idle, retired, drained) until the driver reports them gone. */
  private readonly departing = new Map<string, Member>();
  /** Instances the driver started and has not reported gone. */
  private readonly live = new Set<string>();
  private readonly waiters: Waiter[] = [];
  /** The replicas the driver was last told. */
  private desired = 0;
  /** Quota slots held: one per replica, and per instance still ending. */
  private readonly slots: QuotaSlot[] = [];
  private quotaWaits = 0;
  /** Crashed instances whose replacement is awaited (their ready is a restart). */
  private restarting = 0;
  private draining = false;
  private drained: Promise<void> | undefined;
  private failure: Error | undefined;
  /** While {@link start} waits: one instance is wanted whatever the load, and its outcome settles the start. */
  private startup: { resolve(): void; reject(err: Error): void; rollout: boolean } | undefined;
  /** Aborts waits for the quota when the pool drains; made at the first wait (most pools never wait). */
  private stopped: AbortController | undefined;
  /**
   * The subscription to the driver's instances of this revision: held while
   * the revision has replicas or instances, and let go at zero, so that an
   * idle function costs the driver nothing (1,000 idle functions are metadata).
   */
  private following: { abort: AbortController; done: Promise<void> } | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(options: RevisionPoolOptions) {
    this.revision = options.revision;
    this.driver = options.driver;
    this.policy = options.policy;
    this.onEvent = options.onEvent;
    this.quota = options.quota ?? unlimited;
    this.stats = options.stats ?? ((instance) => fetchWorkerStats(instance, statsTimeoutMs));
    this.statsIntervalMs = options.statsIntervalMs ?? 1000;
  }

  /** Ready instances. */
  get size(): number {
    return this.members.size;
  }

  /** The replicas the driver was told to run. */
  get replicas(): number {
    return this.desired;
  }

  /** Addresses of the ready instances. */
  get endpoints(): string[] {
    return [...this.members.values()].map((m) => m.instance.url);
  }

  /** Calls in flight across instances (slots handed out). */
  get inflight(): number {
    let n = 0;
    for (const m of this.members.values()) n += m.inflight;
    return n;
  }

  /**
   * Starts the first instance (or `min` of them) and resolves when one is
   * ready; rejects with the driver's error (a LoadError in the runtime's words)
   * when the first to end does so without becoming ready. `rollout`: an older
   * revision still serves and holds its quota slots until this one serves, so
   * the first instance starts even past the quota.
   */
  async start(options: { rollout?: boolean } = {}): Promise<void> {
    if (this.draining) throw new Error("the function was stopped");
    const ready = new Promise<void>((resolve, reject) => {
      this.startup = { resolve, reject, rollout: options.rollout === true };
    });
    try {
      if (this.members.size > 0) this.startup?.resolve();
      this.reconcileScale();
      await ready;
    } finally {
      this.startup = undefined;
    }
    this.onEvent({ type: "ready", instances: this.members.size });
  }

  /** Changes the scaling policy of a running pool (same code, new bounds). */
  rescale(policy: ScalePolicy): void {
    this.policy = policy;
    this.reconcileScale();
    for (const m of this.members.values()) if (m.inflight === 0) this.armIdle(m);
  }

  /** A free slot, at once, or undefined. */
  tryAcquire(): Lease | undefined {
    if (this.draining) return undefined;
    const free = this.freeMember();
    return free ? this.lease(free) : undefined;
  }

  /** A slot for one call, waiting (and waking instances) when none is free. */
  acquire(signal?: AbortSignal): Promise<Lease> {
    if (this.draining) return Promise.reject(new Error("this revision is being replaced"));
    if (signal?.aborted) {
      return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    }
    const free = this.freeMember();
    if (free) return Promise.resolve(this.lease(free));
    return new Promise<Lease>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        // Gave up while the quota kept an instance from starting: say so.
        if (this.quotaWaits > 0) waiter.reject(new InstanceQuotaError(this.quotaMessage()));
        else waiter.reject(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
      };
      const waiter: Waiter = {
        signal,
        resolve: (lease) => {
          if (settled) return lease.release();
          settled = true;
          signal?.removeEventListener("abort", onAbort);
          resolve(lease);
        },
        reject: (err) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.reconcileScale();
    });
  }

  /**
   * Reads the load report of every ready instance now, and raises the
   * replicas when the load wants more (what the periodic read does).
   */
  async refreshLoad(): Promise<void> {
    await Promise.all(
      [...this.members.values()]
        .filter((m) => !m.unreachable)
        .map(async (m) => {
          const answer = await this.stats(m.instance);
          if (answer.ok) m.reported = answer.stats.inFlight;
          // No answer in time: the last report stands. Gone or not a report: no load.
          else if (answer.failure !== "timeout") m.reported = 0;
        }),
    );
    this.reconcileScale();
  }

  /**
   * Stops taking calls, waits for calls in flight, then removes the revision
   * from the driver (every instance stops). Waiting callers are moved to
   * `handover` when given (a rollout), else rejected. Starts waiting for the
   * quota give up at once, and nothing starts after. Draining again waits for
   * the first drain.
   */
  drain(handover?: RevisionPool): Promise<void> {
    this.drained ??= this.stopAll(handover);
    return this.drained;
  }

  private async stopAll(handover?: RevisionPool): Promise<void> {
    this.draining = true;
    this.stopped?.abort(new Error("the function was stopped"));
    this.stopPolling();
    this.startup?.reject(new Error("the function was stopped"));
    for (const waiter of this.waiters.splice(0)) {
      // The caller's own deadline still applies on the new revision.
      if (handover) handover.acquire(waiter.signal).then(waiter.resolve, waiter.reject);
      else waiter.reject(new Error("the function was stopped"));
    }
    // Idle instances stop now, busy ones once their calls are done; nothing is restarted.
    const busy: Array<Promise<void>> = [];
    for (const m of this.members.values()) {
      clearTimeout(m.idleTimer);
      if (m.inflight > 0) {
        busy.push(
          new Promise<void>((resolve) => {
            m.onDrained = resolve;
          }).then(() => this.depart([m])),
        );
      }
    }
    this.depart([...this.members.values()].filter((m) => m.inflight === 0));
    await Promise.all(busy);
    try {
      await this.driver.remove(this.revision);
      // The driver ends the subscription once the last instance was reported gone.
      await this.following?.done;
    } finally {
      this.following?.abort.abort();
      this.following = undefined;
      for (const m of this.departing.values()) m.ended({ code: null, signal: null, stopped: true });
      this.departing.clear();
      for (const slot of this.slots.splice(0)) slot.release();
    }
  }

  /** Takes members out (a drain): the driver stops them and keeps the others. */
  private depart(members: Member[]): void {
    const stop: string[] = [];
    for (const m of members) {
      if (this.members.get(m.instance.id) !== m) continue;
      this.members.delete(m.instance.id);
      this.departing.set(m.instance.id, m);
      stop.push(m.instance.id);
    }
    if (stop.length > 0) this.setDesired(this.members.size, { stop });
  }

  /** Subscribes to the driver's instances of this revision, unless it is subscribed. */
  private follow(): void {
    if (this.following) return;
    const abort = new AbortController();
    this.following = { abort, done: this.consume(this.driver.instances(this.revision, abort.signal)) };
  }

  /**
   * Lets the subscription go once the revision has nothing: no replicas, no
   * instance starting, serving or ending. The driver starts nothing for it then,
   * so no event can be missed; the next replica subscribes again first.
   */
  private unfollowIfIdle(): void {
    // Instances that outlive the control plane (pods) may be started by another
    // replica (a standby waking the function): this pool must see them to stop them when idle.
    if (!this.following || this.draining || this.driver.persistent) return;
    if (this.desired > 0 || this.live.size > 0 || this.members.size > 0 || this.departing.size > 0) return;
    this.following.abort.abort();
    this.following = undefined;
  }

  /** Takes in what the driver reports, until the stream ends (the revision was removed, or let go at zero). */
  private async consume(events: AsyncIterable<InstanceEvent>): Promise<void> {
    try {
      await this.observe(events);
    } catch (err) {
      // A driver that can no longer say what runs: nothing can be served from it.
      const error = new Error(
        `the ${this.driver.name} driver stopped reporting instances: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
      this.failure = error;
      this.startup?.reject(error);
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
      this.onEvent({ type: "failed", message: error.message });
    }
  }

  private async observe(events: AsyncIterable<InstanceEvent>): Promise<void> {
    for await (const event of events) {
      switch (event.type) {
        case "starting":
          this.live.add(event.id);
          break;
        case "ready":
          this.onReady(event.instance);
          break;
        case "gone":
          this.onGone(event.id, event.exit, event.restartInMs);
          break;
        case "failed":
          this.onFailed(event.id, event.error, event.restartInMs);
          break;
      }
    }
  }

  private onReady(endpoint: InstanceEndpoint): void {
    // Draining: the driver was told to keep only the busy ones, and removes the rest.
    if (this.draining) return;
    let ended!: (exit: InstanceExit) => void;
    const exited = new Promise<InstanceExit>((resolve) => {
      ended = resolve;
    });
    const member: Member = {
      instance: { ...endpoint, exited },
      ended,
      inflight: 0,
      reported: 0,
      idleTimer: undefined,
    };
    this.members.set(endpoint.id, member);
    this.failure = undefined;
    const restarted = this.restarting > 0;
    if (restarted) this.restarting--;
    this.serveWaiters();
    if (member.inflight === 0) this.armIdle(member);
    this.startup?.resolve();
    this.onEvent({ type: restarted ? "restarted" : "scaled", instances: this.members.size });
    // More callers may be waiting than this instance can take.
    this.reconcileScale();
    this.startPolling();
  }

  private onGone(id: string, exit: InstanceExit, restartInMs: number | undefined): void {
    this.live.delete(id);
    const member = this.members.get(id);
    if (member) {
      this.members.delete(id);
      clearTimeout(member.idleTimer);
      if (this.draining) {
        // Ended while its calls were being waited for: the drain goes on without it.
        member.ended(exit);
        member.onDrained?.();
        this.setDesired(this.members.size);
      } else if (exit.stopped) {
        // Stopped by someone else (this pool's own stops take members out first): on a
        // persistent driver, the leading replica scaled the revision down, or a person
        // deleted the pod. The replica is kept only while this pool still wants it; a
        // standby that kept it would raise the replicas again at once.
        if (this.want() < this.desired) this.setDesired(this.desired - 1);
        member.ended(exit);
      } else {
        // A crash: the driver replaces it after its backoff while the revision
        // still wants it (below `min`, callers wait, the load wants it), else
        // the replicas go down by one and nothing restarts.
        let replaced = restartInMs !== undefined;
        if (replaced && this.want() < this.desired) {
          this.setDesired(this.desired - 1);
          replaced = false;
        }
        if (replaced) this.restarting++;
        this.onEvent({
          type: "crashed",
          instance: id,
          exit,
          restartInMs: replaced ? restartInMs : undefined,
        });
        member.ended(exit);
      }
    } else {
      const departed = this.departing.get(id);
      this.departing.delete(id);
      departed?.ended(exit);
    }
    this.trimSlots();
    if (this.members.size === 0) this.stopPolling();
    this.unfollowIfIdle();
  }

  private onFailed(id: string, error: Error, restartInMs: number | undefined): void {
    this.live.delete(id);
    this.failure = error;
    if (this.draining) {
      this.trimSlots();
      return;
    }
    if (this.startup && this.members.size === 0) {
      const { reject } = this.startup;
      this.startup = undefined;
      reject(error);
    }
    // Nobody can be served if nothing runs or starts: tell the waiters why.
    if (this.members.size === 0 && this.live.size === 0) {
      for (const waiter of this.waiters.splice(0)) waiter.reject(error);
      this.onEvent({ type: "failed", message: error.message });
    }
    // The driver tries again after its backoff only while the revision still wants the instance.
    if (restartInMs !== undefined && this.want() < this.desired) this.setDesired(this.desired - 1);
    this.trimSlots();
    this.unfollowIfIdle();
  }

  /** The replicas the load wants now (see {@link wantedReplicas}). */
  private want(): number {
    return wantedReplicas(this.policy, {
      instances: [...this.members.values()].map((m) => ({
        leases: m.inflight,
        reported: m.reported,
        unreachable: m.unreachable === true,
      })),
      waiting: this.waiters.length,
      floor: this.startup ? 1 : 0,
    });
  }

  /** Raises the replicas to what the load wants (never lowers them: idle instances stop one by one). */
  private reconcileScale(): void {
    if (this.draining) return;
    let missing = this.want() - this.desired - this.quotaWaits;
    while (missing-- > 0) this.addReplica();
  }

  /** One more replica, once it has a quota slot (waiting in the org's line for one). */
  private addReplica(): void {
    const org = this.revision.org;
    const slot =
      this.startup?.rollout && this.desired === 0 && this.quotaWaits === 0
        ? this.quota.takeBeyond(org)
        : this.quota.tryTake(org);
    if (slot) {
      this.grow(slot);
      return;
    }
    void this.waitForQuota().then(
      (granted) => {
        // While it waited, the need may have gone (callers gave up, min lowered).
        if (this.draining || this.want() <= this.desired) granted.release();
        else this.grow(granted);
      },
      () => undefined,
    );
  }

  private grow(slot: QuotaSlot): void {
    this.slots.push(slot);
    this.setDesired(this.desired + 1);
  }

  private setDesired(replicas: number, options?: ScaleOptions): void {
    this.desired = Math.max(0, replicas);
    // Subscribed before the driver is asked for anything, so no event of it is missed.
    if (this.desired > 0) this.follow();
    this.driver.scale(this.revision, this.desired, options);
    this.trimSlots();
    this.unfollowIfIdle();
  }

  /** Gives back quota slots no replica and no ending instance holds. */
  private trimSlots(): void {
    const held = Math.max(this.desired + this.departing.size, this.live.size);
    while (this.slots.length > held) this.slots.pop()?.release();
  }

  /**
   * The instance with a free slot that carries the least: by the pool's own
   * calls and by its worker's report (calls from elsewhere). Only the pool's
   * own calls decide whether a slot is free: a report is up to a second old.
   */
  private freeMember(): Member | undefined {
    let best: Member | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const m of this.members.values()) {
      if (m.unreachable || m.inflight >= this.policy.concurrency) continue;
      const load = Math.max(m.inflight, m.reported);
      if (load < bestLoad) {
        best = m;
        bestLoad = load;
      }
    }
    return best;
  }

  private lease(member: Member): Lease {
    member.inflight++;
    clearTimeout(member.idleTimer);
    member.idleTimer = undefined;
    let released = false;
    return {
      instance: member.instance,
      release: () => {
        if (released) return;
        released = true;
        member.inflight--;
        if (member.inflight === 0 && this.draining) return member.onDrained?.();
        this.serveWaiters();
        if (member.inflight === 0 && this.members.get(member.instance.id) === member) this.armIdle(member);
      },
      retire: () => this.retire(member),
      unreachable: () => {
        member.unreachable = true;
      },
    };
  }

  private retire(member: Member): void {
    const id = member.instance.id;
    if (this.members.get(id) !== member) return;
    this.members.delete(id);
    clearTimeout(member.idleTimer);
    member.onDrained?.();
    this.departing.set(id, member);
    this.onEvent({ type: "scaled", instances: this.members.size });
    if (this.draining) {
      this.setDesired(this.members.size, { stop: [id], drainMs: 0 });
      return;
    }
    // Stopped at once (its calls are lost anyway); replaced when the pool needs one.
    this.setDesired(this.desired - 1, { stop: [id], drainMs: 0 });
    this.reconcileScale();
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0) {
      const free = this.freeMember();
      if (!free) break;
      this.waiters.shift()?.resolve(this.lease(free));
    }
  }

  private armIdle(member: Member, delayMs = this.policy.idleMs): void {
    clearTimeout(member.idleTimer);
    if (this.members.size <= this.policy.min) return;
    member.idleTimer = setTimeout(() => void this.idleCheck(member), delayMs);
    member.idleTimer.unref();
  }

  /** Whether the member could stop for being idle, as far as the pool itself knows. */
  private idleHere(member: Member): boolean {
    return (
      !this.draining &&
      member.inflight === 0 &&
      this.members.size > this.policy.min &&
      this.members.get(member.instance.id) === member
    );
  }

  /**
   * The member's idle time is up by the pool's count: its worker's own report
   * decides (calls that did not come through the invoker count too), then
   * whether the others carry the load without it.
   */
  private async idleCheck(member: Member): Promise<void> {
    if (!this.idleHere(member)) return;
    const answer = await this.stats(member.instance);
    if (!this.idleHere(member)) return;
    if (answer.ok) {
      const { inFlight, idleMs } = answer.stats;
      member.reported = inFlight;
      if (inFlight > 0 || idleMs < this.policy.idleMs) {
        this.onEvent({ type: "busy", instance: member.instance.id, inFlight });
        return this.armIdle(member, inFlight > 0 ? this.policy.idleMs : this.policy.idleMs - idleMs);
      }
    } else if (answer.failure === "timeout") {
      // It may be busy (a handler holding its event loop): never stopped on a guess.
      this.onEvent({ type: "busy", instance: member.instance.id, inFlight: member.reported });
      return this.armIdle(member);
    }
    // The load elsewhere may still want this many instances: then it stays. (More
    // may run than this pool asked for: another replica of the control plane woke
    // the revision on a persistent driver.)
    const running = Math.max(this.desired, this.members.size);
    if (this.want() > running - 1) return this.armIdle(member);
    this.members.delete(member.instance.id);
    this.departing.set(member.instance.id, member);
    this.setDesired(running - 1, { stop: [member.instance.id] });
    this.onEvent({ type: "scaled", instances: this.members.size });
    if (this.members.size === 0) this.stopPolling();
  }

  private startPolling(): void {
    if (this.pollTimer || this.draining) return;
    this.pollTimer = setInterval(() => {
      this.polling ??= this.refreshLoad().finally(() => {
        this.polling = undefined;
      });
    }, this.statsIntervalMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Waits in the org's line for a quota slot, saying so in status while it waits. */
  private async waitForQuota(): Promise<QuotaSlot> {
    if (this.quotaWaits++ === 0) this.onEvent({ type: "quota", message: this.quotaMessage() });
    try {
      if (!this.stopped) {
        this.stopped = new AbortController();
        // Each start waiting for the quota listens on it (up to `max` of them).
        setMaxListeners(0, this.stopped.signal);
      }
      return await this.quota.take(this.revision.org, this.stopped.signal, () => this.members.size);
    } finally {
      if (--this.quotaWaits === 0 && !this.draining) this.onEvent({ type: "quota", message: undefined });
    }
  }

  /** Whether starts wait for the org's instance quota. */
  get waitingForQuota(): boolean {
    return this.quotaWaits > 0;
  }

  /** Why instances wait: the quota, and what it keeps from happening. */
  quotaMessage(): string {
    const short =
      this.members.size < this.policy.min
        ? `scale.min is ${this.policy.min} but ${this.members.size} instance${this.members.size === 1 ? "" : "s"} run`
        : this.members.size === 0
          ? "no instance can start"
          : "calls wait for another instance";
    return `${short}: org "${this.revision.org}" has reached its quota of ${this.quota.limit} running instances (dispatch up --max-instances-per-org); instances start as others stop`;
  }

  /** The last start failure, if the pool has no instance because of it. */
  get lastFailure(): Error | undefined {
    return this.members.size === 0 ? this.failure : undefined;
  }
}

/** The quota of a pool given none. */
const unlimited = new InstanceQuota(Number.POSITIVE_INFINITY);
