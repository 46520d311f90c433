import { type InstanceEndpoint, type InstanceExit, LoadError, type RevisionSpec } from "@dispatch/server-kit";
import test from "ava";
import { InstanceQuota, InstanceQuotaError } from "./instance-quota.js";
import { createReplicaDriver, type LaunchedInstance } from "./replica-set.js";
import { type PoolEvent, RevisionPool, type RevisionPoolOptions, type ScalePolicy } from "./revision-pool.js";
import type { StatsAnswer } from "./worker-client.js";

// The pool's bookkeeping, on the replica driver (the local driver's, with its
// restarts and backoff) whose instances are plain objects: races between
// waiters, deadlines and rollouts are deterministic this way. (The real
// driver and workers are covered by test/functions.test.ts and test/load-signal.test.ts.)

function memoryDriver() {
  const exits = new Map<string, (e: InstanceExit) => void>();
  const scaleListeners: Array<(replicas: number) => void> = [];
  const counts = {
    started: 0,
    /** Instances started and not ended, and the most there ever were at once. */
    live: 0,
    peak: 0,
    /** Starts by function name. */
    startsOf: new Map<string, number>(),
    /** Every replica count the pool asked for. */
    scales: [] as number[],
    /** Functions whose handler does not load. */
    broken: new Set<string>(),
    /** Subscriptions to instances that have not ended. */
    following: 0,
    followingChanged: [] as Array<() => void>,
  };
  const inner = createReplicaDriver({
    name: "memory",
    async launch(revision: RevisionSpec, id: string): Promise<LaunchedInstance> {
      if (counts.broken.has(revision.name)) throw new LoadError("SyntaxError: Unexpected token");
      counts.started++;
      counts.startsOf.set(revision.name, (counts.startsOf.get(revision.name) ?? 0) + 1);
      counts.live++;
      counts.peak = Math.max(counts.peak, counts.live);
      let exit!: (e: InstanceExit) => void;
      let ended = false;
      const exited = new Promise<InstanceExit>((resolve) => {
        exit = (e) => {
          if (!ended) counts.live--;
          ended = true;
          resolve(e);
        };
      });
      exits.set(id, exit);
      return {
        id,
        url: `memory://${id}`,
        token: "",
        exited,
        stop: async () => exit({ code: 0, signal: null, stopped: true }),
      };
    },
  });
  return Object.assign(counts, {
    name: inner.name,
    scale: (revision: RevisionSpec, replicas: number, options?: Parameters<typeof inner.scale>[2]) => {
      counts.scales.push(replicas);
      inner.scale(revision, replicas, options);
      for (const listener of scaleListeners.splice(0)) listener(replicas);
    },
    instances: (revision: RevisionSpec, signal: AbortSignal) => {
      const events = inner.instances(revision, signal);
      counts.following++;
      return (async function* () {
        try {
          yield* events;
        } finally {
          counts.following--;
          for (const wake of counts.followingChanged.splice(0)) wake();
        }
      })();
    },
    remove: inner.remove,
    close: inner.close,
    /** Resolves once no subscription to instances is open. */
    async unfollowed(): Promise<void> {
      while (counts.following > 0)
        await new Promise<void>((resolve) => counts.followingChanged.push(resolve));
    },
    /** The instance's process ends on its own (a crash). */
    crash(id: string) {
      exits.get(id)?.({ code: 1, signal: null, stopped: false });
    },
    /** The instance is stopped by someone else (another replica's scale-down, a deleted pod). */
    stopByOther(id: string) {
      exits.get(id)?.({ code: 0, signal: null, stopped: true });
    },
    /** Resolves at the next scale the pool asks for. */
    nextScale(): Promise<number> {
      return new Promise((resolve) => scaleListeners.push(resolve));
    },
  });
}

type MemoryDriver = ReturnType<typeof memoryDriver>;

/** What workers report by instance id (`GET /stats`); none: an idle worker. */
function reports() {
  const load = new Map<string, { inFlight: number; idleMs: number }>();
  return {
    load,
    stats: async (instance: InstanceEndpoint): Promise<StatsAnswer> => {
      const { inFlight, idleMs } = load.get(instance.id) ?? { inFlight: 0, idleMs: Number.MAX_SAFE_INTEGER };
      return { ok: true, stats: { inFlight, idleMs, calls: 0, draining: false } };
    },
  };
}

function newPool(
  revision: RevisionSpec,
  driver: MemoryDriver,
  policy: ScalePolicy,
  onEvent: (event: PoolEvent) => void,
  quota?: InstanceQuota,
  extra: Partial<RevisionPoolOptions> = {},
): RevisionPool {
  return new RevisionPool({
    revision,
    driver,
    policy,
    onEvent,
    ...(quota ? { quota } : {}),
    stats: reports().stats,
    ...extra,
  });
}

const revision = {
  name: "f",
  org: "o",
  uid: "u",
  generation: 1n,
  bundle: { digest: "", format: "", filename: "" },
} as unknown as RevisionSpec;
const onePolicy = { min: 0, max: 1, concurrency: 1, idleMs: 60_000 };

test("a waiter moved to the new revision keeps its deadline, and a lease that comes too late is given back", async (t) => {
  const driver = memoryDriver();
  const oldPool = newPool(revision, driver, onePolicy, () => {});
  await oldPool.start();
  const nextPool = newPool({ ...revision, generation: 2n }, driver, onePolicy, () => {});
  await nextPool.start();

  const busyOld = await oldPool.acquire();
  const busyNew = await nextPool.acquire();
  const deadline = new AbortController();
  const waiting = oldPool.acquire(deadline.signal);
  const draining = oldPool.drain(nextPool);
  busyOld.release();

  deadline.abort(new Error("deadline"));
  await t.throwsAsync(waiting, { message: "deadline" });
  busyNew.release();
  // Had the late lease been kept, the only slot of the new revision would be gone.
  const next = nextPool.tryAcquire();
  t.truthy(next, "the new revision's slot is free again");
  next?.release();
  await draining;
  t.is(nextPool.inflight, 0);
});

test("slots: at most `concurrency` per instance; a waiter is served when one is released", async (t) => {
  const pool = newPool(revision, memoryDriver(), { ...onePolicy, concurrency: 2 }, () => {});
  await pool.start();
  const a = await pool.acquire();
  const b = await pool.acquire();
  t.is(pool.tryAcquire(), undefined);
  const c = pool.acquire();
  a.release();
  const lease = await c;
  t.is(lease.instance.id, a.instance.id, "the one instance took the waiter");
  b.release();
  lease.release();
  t.is(pool.inflight, 0);
});

test("a retired instance takes no more calls, is stopped, and is replaced to keep `min`", async (t) => {
  const driver = memoryDriver();
  const events: string[] = [];
  const pool = newPool(revision, driver, { ...onePolicy, min: 1, concurrency: 4 }, (e) =>
    events.push(e.type),
  );
  await pool.start();
  const wedged = await pool.acquire();
  wedged.retire();
  wedged.release();
  const next = await pool.acquire(AbortSignal.timeout(60_000));
  t.not(next.instance.id, wedged.instance.id, "a fresh instance serves the next call");
  t.is(pool.size, 1);
  t.true((await wedged.instance.exited).stopped, "the wedged one was stopped");
  t.true(events.includes("scaled"));
  next.release();
});

test("an unreachable instance gets no new calls; its exit still counts as a crash", async (t) => {
  const driver = memoryDriver();
  const crashes: number[] = [];
  const pool = newPool(revision, driver, { ...onePolicy, max: 2, concurrency: 4 }, (e) => {
    if (e.type === "crashed") crashes.push(1);
  });
  await pool.start();
  const first = await pool.acquire();
  first.unreachable();
  first.release();
  const second = await pool.acquire(AbortSignal.timeout(60_000));
  t.not(second.instance.id, first.instance.id, "the call went to another instance");
  second.release();
  // The refused instance's process then ends on its own: a crash, reported as one.
  driver.crash(first.instance.id);
  await first.instance.exited;
  t.is(crashes.length, 1);
  t.is(pool.size, 1);
});

test("acquire with a signal that already fired fails at once and starts nothing", async (t) => {
  const driver = memoryDriver();
  const pool = newPool(revision, driver, onePolicy, () => {});
  const gone = AbortSignal.abort(new Error("client left"));
  await t.throwsAsync(pool.acquire(gone), { message: "client left" });
  t.is(driver.started, 0);
});

test("two crashes close together: the restart brings the pool back to `min`, and says so", async (t) => {
  const driver = memoryDriver();
  let restarted!: () => void;
  const back = new Promise<void>((resolve) => {
    restarted = resolve;
  });
  const pool = newPool(revision, driver, { ...onePolicy, min: 2, max: 2 }, (e) => {
    if (e.type === "restarted" && e.instances === 2) restarted();
  });
  await pool.start();
  // start() resolves with the first instance; the second comes from the same burst.
  await new Promise((resolve) => setImmediate(resolve));
  t.is(pool.size, 2);
  for (const id of ["f-1-1", "f-1-2"]) driver.crash(id);
  // The pool's restart timer does not hold a process open (unref); this test must stay up for it.
  const keepAlive = setInterval(() => {}, 1000);
  await back;
  clearInterval(keepAlive);
  t.is(pool.size, 2);
  await pool.drain();
});

/** Lets every pending promise callback and timer-free continuation run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

test("quota: two functions that want more than the org's quota never run more than it together", async (t) => {
  const driver = memoryDriver();
  const quota = new InstanceQuota(3);
  const notes: Array<string | undefined> = [];
  const a = newPool({ ...revision, name: "a" }, driver, { ...onePolicy, min: 2, max: 2 }, () => {}, quota);
  const b = newPool(
    { ...revision, name: "b" },
    driver,
    { ...onePolicy, min: 20, max: 20 },
    (e) => {
      if (e.type === "quota") notes.push(e.message);
    },
    quota,
  );
  await a.start();
  await b.start();
  await settle();
  t.is(driver.live, 3);
  t.is(driver.peak, 3);
  t.true(b.waitingForQuota);
  t.regex(
    b.quotaMessage(),
    /^scale\.min is 20 but 1 instance run: org "o" has reached its quota of 3 running instances \(dispatch up --max-instances-per-org\)/,
  );
  t.regex(notes[0] ?? "", /has reached its quota of 3/);

  // A stops: its places go to B's waiting starts, and the quota still holds.
  await a.drain();
  await settle();
  t.is(driver.live, 3);
  t.is(b.size, 3);
  t.is(driver.peak, 3);

  // B is deleted while 17 of its starts wait: none of them ever starts.
  const startsOfB = driver.startsOf.get("b");
  await b.drain();
  await settle();
  t.is(driver.live, 0);
  t.is(driver.startsOf.get("b"), startsOfB, "nothing started after the drain");
  t.is(quota.usedBy("o"), 0, "every place was given back");
  // The whole quota is free for the next function.
  const c = newPool({ ...revision, name: "c" }, driver, { ...onePolicy, min: 3, max: 3 }, () => {}, quota);
  await c.start();
  await settle();
  t.is(c.size, 3);
  t.false(c.waitingForQuota);
  await c.drain();
});

test("quota: a call that needs an instance the quota keeps from starting fails naming the quota", async (t) => {
  const driver = memoryDriver();
  const quota = new InstanceQuota(1);
  const a = newPool({ ...revision, name: "a" }, driver, { ...onePolicy, min: 1 }, () => {}, quota);
  await a.start();
  const b = newPool({ ...revision, name: "b" }, driver, onePolicy, () => {}, quota);
  const deadline = new AbortController();
  const call = b.acquire(deadline.signal);
  await settle();
  t.true(b.waitingForQuota);
  deadline.abort(new Error("deadline"));
  const err = await t.throwsAsync(call, { instanceOf: InstanceQuotaError });
  t.regex(err?.message ?? "", /no instance can start: org "o" has reached its quota of 1 running instances/);
  // The start that waited for the caller is not needed any more: when a place
  // frees up, it gives it back instead of starting an instance nobody waits for.
  await a.drain();
  await settle();
  t.is(driver.startsOf.get("b"), undefined);
  t.is(quota.usedBy("o"), 0);
});

test("quota: each org has its own", async (t) => {
  const driver = memoryDriver();
  const quota = new InstanceQuota(1);
  const a = newPool({ ...revision, org: "one" }, driver, { ...onePolicy, min: 1 }, () => {}, quota);
  const b = newPool({ ...revision, org: "two" }, driver, { ...onePolicy, min: 1 }, () => {}, quota);
  await a.start();
  await b.start();
  t.is(driver.live, 2);
  await a.drain();
  await b.drain();
});

test("quota: a rollout's first instance starts even when the org is at its quota; the old revision's slots then go", async (t) => {
  const driver = memoryDriver();
  const quota = new InstanceQuota(2);
  const old = newPool(revision, driver, { ...onePolicy, min: 2, max: 2 }, () => {}, quota);
  await old.start();
  await settle();
  t.is(quota.usedBy("o"), 2);
  const next = newPool(
    { ...revision, generation: 2n },
    driver,
    { ...onePolicy, min: 2, max: 2 },
    () => {},
    quota,
  );
  await next.start({ rollout: true });
  t.is(next.size, 1, "the first started past the quota");
  await settle();
  t.true(next.waitingForQuota, "the second waits for the old revision's slots");
  await old.drain();
  await settle();
  t.is(next.size, 2);
  t.is(driver.live, 2);
  t.is(driver.peak, 3, "one above the quota, for the rollout");
  await next.drain();
  t.is(quota.usedBy("o"), 0);
});

/** The pool's events, and the next one a test expects (from the moment it asks). */
function eventLog() {
  const waits: Array<{ check: (e: PoolEvent) => boolean; resolve: (e: PoolEvent) => void }> = [];
  return {
    onEvent(event: PoolEvent): void {
      for (const wait of [...waits]) {
        if (!wait.check(event)) continue;
        waits.splice(waits.indexOf(wait), 1);
        wait.resolve(event);
      }
    },
    next(check: (e: PoolEvent) => boolean): Promise<PoolEvent> {
      return new Promise((resolve) => waits.push({ check, resolve }));
    },
  };
}

test("load signal: a worker busy with calls the invoker did not send is not stopped as idle; once idle, it is", async (t) => {
  // The idle timers do not hold a process open (unref): the test must stay up for them.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const driver = memoryDriver();
  const { load, stats } = reports();
  const events = eventLog();
  const policy = { ...onePolicy, idleMs: 20 };
  const pool = newPool(revision, driver, policy, events.onEvent, undefined, { stats });
  await pool.start();
  const lease = pool.tryAcquire();
  const id = lease?.instance.id ?? "";
  // Two calls in flight at the worker, none of them the pool's.
  load.set(id, { inFlight: 2, idleMs: 0 });
  // The pool's own call ends: by its count the instance is idle from now on.
  const busy = events.next((e) => e.type === "busy");
  lease?.release();
  t.like(await busy, { type: "busy", instance: id, inFlight: 2 });
  t.is(pool.size, 1, "kept");
  // Done a moment ago: recent activity keeps it too.
  const recent = events.next((e) => e.type === "busy");
  load.set(id, { inFlight: 0, idleMs: 5 });
  t.like(await recent, { instance: id, inFlight: 0 });
  t.is(pool.size, 1);
  // Idle for longer than idleMs by its own report: stopped.
  const stopped = events.next((e) => e.type === "scaled" && e.instances === 0);
  load.set(id, { inFlight: 0, idleMs: 1_000 });
  await stopped;
  t.is(pool.size, 0);
  t.is(driver.scales.at(-1), 0);
  await pool.drain();
});

test("load signal: calls the workers report raise the replicas up to max, and never beyond", async (t) => {
  const driver = memoryDriver();
  const { load, stats } = reports();
  const events = eventLog();
  const pool = newPool(revision, driver, { ...onePolicy, max: 3 }, events.onEvent, undefined, {
    stats,
  });
  await pool.start();
  const first = pool.tryAcquire();
  first?.release();
  // Five calls in flight on the one worker, with a concurrency of 1: five instances' worth.
  load.set(first?.instance.id ?? "", { inFlight: 5, idleMs: 0 });
  const three = events.next((e) => e.type === "scaled" && e.instances === 3);
  await pool.refreshLoad();
  await three;
  t.is(pool.size, 3);
  t.is(pool.replicas, 3);
  // Read again with the load unchanged: still three.
  await pool.refreshLoad();
  t.is(pool.replicas, 3);
  t.is(Math.max(...driver.scales), 3, "never asked for more than max");
  t.is(driver.peak, 3);
  await pool.drain();
  t.is(driver.live, 0);
});

test("a first start whose handler does not load fails start() with the runtime's words, and nothing is restarted", async (t) => {
  const driver = memoryDriver();
  driver.broken.add("f");
  const pool = newPool(revision, driver, onePolicy, () => {});
  await t.throwsAsync(pool.start(), { instanceOf: LoadError, message: "SyntaxError: Unexpected token" });
  t.is(pool.replicas, 0, "the driver is told to stop trying");
  t.is(driver.scales.at(-1), 0);
  t.true(pool.lastFailure instanceof LoadError);
  await pool.drain();
});

test("a crashed instance that the revision no longer needs is not replaced", async (t) => {
  const driver = memoryDriver();
  const events = eventLog();
  const pool = newPool(revision, driver, { ...onePolicy, max: 2 }, events.onEvent);
  await pool.start();
  const lease = pool.tryAcquire();
  lease?.release();
  const id = lease?.instance.id ?? "";
  const crashed = events.next((e) => e.type === "crashed");
  driver.crash(id);
  t.like(await crashed, { type: "crashed", instance: id, restartInMs: undefined });
  t.is(pool.replicas, 0);
  t.is(pool.size, 0);
  await pool.drain();
});

test("an instance someone else stopped (another replica scaled down) is not asked for again unless the pool still wants it", async (t) => {
  const driver = memoryDriver();
  const events = eventLog();
  // Idle and at min 0: the replica it started with goes with the instance.
  const pool = newPool(revision, driver, onePolicy, events.onEvent);
  await pool.start();
  const lease = pool.tryAcquire();
  lease?.release();
  t.is(pool.replicas, 1);
  const lowered = driver.nextScale();
  driver.stopByOther(lease?.instance.id ?? "");
  t.is(await lowered, 0, "the replica goes: a standby would otherwise raise it again");
  t.is(pool.replicas, 0);
  await pool.drain();

  // At min 1 the replica stays.
  const kept = memoryDriver();
  const minOne = newPool({ ...revision, name: "g" }, kept, { ...onePolicy, min: 1 }, events.onEvent);
  await minOne.start();
  const held = minOne.tryAcquire();
  held?.release();
  kept.stopByOther(held?.instance.id ?? "");
  // The in-memory driver reports the end within the turn; the pool has taken it in after it.
  await new Promise((resolve) => setImmediate(resolve));
  t.is(minOne.size, 0, "the instance is gone");
  t.is(minOne.replicas, 1, "the replica min wants stays");
  t.false(kept.scales.includes(0), "never asked to go to zero");
  await minOne.drain();
});

test("a pool at zero lets go of the driver (an idle function costs it nothing), and follows again for the next call", async (t) => {
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const driver = memoryDriver();
  const events = eventLog();
  const pool = newPool(revision, driver, { ...onePolicy, idleMs: 10 }, events.onEvent);
  t.is(driver.following, 0, "nothing asked of the driver yet");
  await pool.start();
  t.is(driver.following, 1);
  // Idle: stopped, and once its instance is gone the subscription ends.
  const first = pool.tryAcquire();
  first?.release();
  await first?.instance.exited;
  await driver.unfollowed();
  t.is(pool.replicas, 0);
  // The next call wakes it through a new subscription.
  const lease = await pool.acquire(AbortSignal.timeout(60_000));
  t.not(lease.instance.id, first?.instance.id);
  t.is(driver.following, 1);
  lease.release();
  await pool.drain();
  t.is(driver.following, 0);
});
