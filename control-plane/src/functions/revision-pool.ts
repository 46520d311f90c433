import { setMaxListeners } from "node:events";
import type { Driver, Instance, InstanceExit, RevisionSpec } from "./driver.js";
import { InstanceQuota, InstanceQuotaError, type QuotaSlot } from "./instance-quota.js";

/** Scaling bounds of a revision, with defaults applied. */
export interface ScalePolicy {
  min: number;
  max: number;
  /** Calls in flight per instance. */
  concurrency: number;
  /** An idle instance above `min` stops after this long. */
  idleMs: number;
}

/** Something that happened to a pool, for the function's status. */
export type PoolEvent =
  | { type: "ready"; instances: number }
  | { type: "scaled"; instances: number }
  | { type: "crashed"; instance: string; exit: InstanceExit; restartInMs: number | undefined }
  | { type: "restarted"; instances: number }
  | { type: "failed"; message: string }
  /** Starts wait for the org's instance quota (`message` says so), or no longer do (undefined). */
  | { type: "quota"; message: string | undefined };

/** A slot on one instance, held for one call. */
export interface Lease {
  instance: Instance;
  /** Gives the slot back. */
  release(): void;
  /**
   * The instance is wedged: it takes no more calls, is stopped, and a
   * replacement starts when the pool needs one (below `min`, or callers wait).
   */
  retire(): void;
  /**
   * The instance refused a connection (its process is ending): it takes no
   * more calls; its exit is handled as a crash when it comes.
   */
  unreachable(): void;
}

interface Member {
  instance: Instance;
  inflight: number;
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

/**
 * The instances of one function revision. It hands out call slots (at most
 * `concurrency` per instance), starts instances when every slot is taken (up to
 * `max`, including from zero: this is the activator's wake-up), stops idle ones
 * down to `min`, and restarts crashed ones with backoff. Every start first
 * takes a slot in the org's {@link InstanceQuota}, waiting in line when the
 * org is at its quota; a drained pool gives up its place and starts nothing more.
 */
export class RevisionPool {
  private readonly members = new Set<Member>();
  private readonly waiters: Waiter[] = [];
  private starting = 0;
  private draining = false;
  private failure: Error | undefined;
  private crashes = 0;
  private lastCrash = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Aborts starts waiting for the quota when the pool drains. */
  private readonly stopped = new AbortController();
  private drained: Promise<void> | undefined;
  /** Starts waiting for a quota slot. */
  private quotaWaits = 0;

  constructor(
    readonly revision: RevisionSpec,
    private readonly driver: Driver,
    private policy: ScalePolicy,
    private readonly onEvent: (event: PoolEvent) => void,
    private readonly quota: InstanceQuota = unlimited,
  ) {
    // Each start waiting for the quota listens on it (up to `max` of them).
    setMaxListeners(0, this.stopped.signal);
  }

  /** Ready instances. */
  get size(): number {
    return this.members.size;
  }

  /** Addresses of the ready instances. */
  get endpoints(): string[] {
    return [...this.members].map((m) => m.instance.url);
  }

  /** Calls in flight across instances. */
  get inflight(): number {
    let n = 0;
    for (const m of this.members) n += m.inflight;
    return n;
  }

  /**
   * Starts the first instance (or `min` of them) and resolves when one is
   * ready; rejects with the driver's LoadError when the handler does not load.
   * `rollout`: an older revision still serves and holds its quota slots until
   * this one serves, so the first instance starts even past the quota.
   */
  async start(options: { rollout?: boolean } = {}): Promise<void> {
    const wanted = Math.max(1, this.policy.min);
    const first = this.launch(true, options.rollout === true);
    for (let i = 1; i < wanted; i++) void this.launch().catch(() => undefined);
    await first;
    this.onEvent({ type: "ready", instances: this.members.size });
  }

  /** Changes the scaling policy of a running pool (same code, new bounds). */
  rescale(policy: ScalePolicy): void {
    this.policy = policy;
    while (this.members.size + this.starting < policy.min) void this.launch().catch(() => undefined);
    for (const m of this.members) if (m.inflight === 0) this.armIdle(m);
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
      this.scaleUp();
    });
  }

  /**
   * Stops taking calls, waits for calls in flight, then stops every instance.
   * Waiting callers are moved to `handover` when given (a rollout), else rejected.
   * Starts waiting for the quota give up at once, and nothing starts after.
   * Draining again waits for the first drain.
   */
  drain(handover?: RevisionPool): Promise<void> {
    this.drained ??= this.stopAll(handover);
    return this.drained;
  }

  private async stopAll(handover?: RevisionPool): Promise<void> {
    this.draining = true;
    this.stopped.abort(new Error("the function was stopped"));
    clearTimeout(this.restartTimer);
    for (const waiter of this.waiters.splice(0)) {
      // The caller's own deadline still applies on the new revision.
      if (handover) handover.acquire(waiter.signal).then(waiter.resolve, waiter.reject);
      else waiter.reject(new Error("the function was stopped"));
    }
    await Promise.all(
      [...this.members].map(async (m) => {
        clearTimeout(m.idleTimer);
        if (m.inflight > 0) {
          await new Promise<void>((resolve) => {
            m.onDrained = resolve;
          });
        }
        this.members.delete(m);
        await m.instance.stop();
      }),
    );
  }

  private freeMember(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.members) {
      if (m.unreachable) continue;
      if (m.inflight < this.policy.concurrency && (!best || m.inflight < best.inflight)) best = m;
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
        if (member.inflight === 0 && this.members.has(member)) this.armIdle(member);
      },
      retire: () => this.retire(member),
      unreachable: () => {
        member.unreachable = true;
      },
    };
  }

  private retire(member: Member): void {
    if (!this.members.delete(member)) return;
    clearTimeout(member.idleTimer);
    member.onDrained?.();
    this.onEvent({ type: "scaled", instances: this.members.size });
    this.fill();
    // Callers may wait for more than the one replacement can take.
    this.scaleUp();
    void member.instance.stop(0);
  }

  private serveWaiters(): void {
    while (this.waiters.length > 0) {
      const free = this.freeMember();
      if (!free) break;
      this.waiters.shift()?.resolve(this.lease(free));
    }
  }

  /** One more instance when callers wait and every instance (ready or starting) is busy. */
  private scaleUp(): void {
    if (this.draining || this.waiters.length === 0) return;
    // Unreachable instances still count against `max` (their processes are
    // ending) but serve nothing.
    let usable = 0;
    let busy = this.waiters.length;
    for (const m of this.members) {
      if (m.unreachable) continue;
      usable++;
      busy += m.inflight;
    }
    const capacity = (usable + this.starting) * this.policy.concurrency;
    if (busy > capacity && this.members.size + this.starting < this.policy.max) {
      void this.launch().catch(() => undefined);
    } else if (this.members.size + this.starting === 0) {
      void this.launch().catch(() => undefined);
    }
  }

  private armIdle(member: Member): void {
    clearTimeout(member.idleTimer);
    if (this.members.size <= this.policy.min) return;
    member.idleTimer = setTimeout(() => {
      if (member.inflight > 0 || this.members.size <= this.policy.min || !this.members.has(member)) return;
      this.members.delete(member);
      void member.instance.stop().then(() => this.onEvent({ type: "scaled", instances: this.members.size }));
    }, this.policy.idleMs);
    member.idleTimer.unref();
  }

  /**
   * Starts one instance; `required` when it must start even if nothing waits
   * for it by then (the first), `beyondQuota` for a rollout's first.
   */
  private async launch(required = false, beyondQuota = false): Promise<void> {
    this.starting++;
    let slot = beyondQuota ? this.quota.takeBeyond(this.revision.org) : this.quota.tryTake(this.revision.org);
    if (!slot) {
      try {
        slot = await this.waitForQuota();
      } catch (err) {
        this.starting--;
        throw err;
      }
      // While it waited, the need may have gone (callers gave up, min lowered).
      const stillNeeded = this.members.size + this.starting - 1 < this.needed || this.waiters.length > 0;
      if (!required && !stillNeeded && !this.draining) {
        this.starting--;
        slot.release();
        return;
      }
    }
    if (this.draining) {
      this.starting--;
      slot.release();
      throw new Error("the function was stopped");
    }
    let instance: Instance;
    try {
      instance = await this.driver.start(this.revision);
    } catch (err) {
      slot.release();
      this.starting--;
      this.failure = err as Error;
      // Nobody can be served if nothing runs: tell the waiters why.
      if (this.members.size === 0 && this.starting === 0) {
        for (const waiter of this.waiters.splice(0)) waiter.reject(err as Error);
        this.onEvent({ type: "failed", message: (err as Error).message });
      }
      throw err;
    }
    this.starting--;
    // The slot is the instance's until its process has ended, however it ends.
    void instance.exited.then(
      () => slot.release(),
      () => slot.release(),
    );
    if (this.draining) {
      await instance.stop();
      return;
    }
    this.failure = undefined;
    const member: Member = { instance, inflight: 0, idleTimer: undefined };
    this.members.add(member);
    void instance.exited.then((exit) => this.onExit(member, exit));
    this.serveWaiters();
    if (member.inflight === 0) this.armIdle(member);
    this.onEvent({ type: "scaled", instances: this.members.size });
    // More callers may be waiting than this instance can take.
    this.scaleUp();
  }

  private onExit(member: Member, exit: InstanceExit): void {
    if (!this.members.delete(member) || exit.stopped || this.draining) return;
    clearTimeout(member.idleTimer);
    // A crash: restart with backoff while below min (or while callers wait);
    // the backoff resets after a minute without crashes.
    const now = Date.now();
    this.crashes = now - this.lastCrash > 60_000 ? 1 : this.crashes + 1;
    this.lastCrash = now;
    const short = this.members.size + this.starting < this.needed;
    const delay = short ? Math.min(30_000, 500 * 2 ** (this.crashes - 1)) : undefined;
    this.onEvent({ type: "crashed", instance: member.instance.id, exit, restartInMs: delay });
    if (delay !== undefined) {
      // One timer, the latest backoff: when it fires it starts as many as are missing.
      clearTimeout(this.restartTimer);
      this.restartTimer = setTimeout(() => this.fill("restarted"), delay);
      this.restartTimer.unref();
    }
  }

  /** Instances the pool must have: `min`, or one while callers wait. */
  private get needed(): number {
    return Math.max(this.policy.min, this.waiters.length > 0 ? 1 : 0);
  }

  /** Starts instances until there are {@link needed}; `report` names the event each start is. */
  private fill(report?: "restarted"): void {
    if (this.draining) return;
    while (this.members.size + this.starting < this.needed) {
      const started = this.launch();
      void (
        report ? started.then(() => this.onEvent({ type: report, instances: this.members.size })) : started
      ).catch(() => undefined);
    }
  }

  /** Waits in the org's line for a quota slot, saying so in status while it waits. */
  private async waitForQuota(): Promise<QuotaSlot> {
    if (this.quotaWaits++ === 0) this.onEvent({ type: "quota", message: this.quotaMessage() });
    try {
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
