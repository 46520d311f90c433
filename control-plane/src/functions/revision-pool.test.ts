import test from "ava";
import type { Driver, Instance, InstanceExit, RevisionSpec } from "./driver.js";
import { InstanceQuota, InstanceQuotaError } from "./instance-quota.js";
import { RevisionPool } from "./revision-pool.js";

// The pool's bookkeeping, with a driver whose instances are plain objects:
// races between waiters, deadlines and rollouts are deterministic this way.
// (The real driver and workers are covered by test/functions.test.ts.)

function memoryDriver(): Driver & {
  started: number;
  live: number;
  peak: number;
  startsOf: Map<string, number>;
  crash(id: string): void;
} {
  const exits = new Map<string, (e: InstanceExit) => void>();
  const driver = {
    name: "memory",
    started: 0,
    /** Instances started and not ended, and the most there ever were at once. */
    live: 0,
    peak: 0,
    /** Starts by function name. */
    startsOf: new Map<string, number>(),
    /** The instance's process ends on its own (a crash). */
    crash(id: string) {
      exits.get(id)?.({ code: 1, signal: null, stopped: false });
    },
    async start(revision: RevisionSpec): Promise<Instance> {
      driver.started++;
      driver.startsOf.set(revision.name, (driver.startsOf.get(revision.name) ?? 0) + 1);
      driver.live++;
      driver.peak = Math.max(driver.peak, driver.live);
      let exit!: (e: InstanceExit) => void;
      let ended = false;
      const exited = new Promise<InstanceExit>((resolve) => {
        exit = (e) => {
          if (!ended) driver.live--;
          ended = true;
          resolve(e);
        };
      });
      exits.set(`i-${driver.started}`, exit);
      return {
        id: `i-${driver.started}`,
        url: `memory://${driver.started}`,
        token: "",
        exited,
        stop: async () => exit({ code: 0, signal: null, stopped: true }),
      };
    },
    async close() {},
  };
  return driver;
}

const revision = { name: "f", org: "o", uid: "u", generation: 1n } as unknown as RevisionSpec;
const onePolicy = { min: 0, max: 1, concurrency: 1, idleMs: 60_000 };

test("a waiter moved to the new revision keeps its deadline, and a lease that comes too late is given back", async (t) => {
  const driver = memoryDriver();
  const oldPool = new RevisionPool(revision, driver, onePolicy, () => {});
  await oldPool.start();
  const newPool = new RevisionPool({ ...revision, generation: 2n }, driver, onePolicy, () => {});
  await newPool.start();

  const busyOld = await oldPool.acquire();
  const busyNew = await newPool.acquire();
  const deadline = new AbortController();
  const waiting = oldPool.acquire(deadline.signal);
  const draining = oldPool.drain(newPool);
  busyOld.release();

  deadline.abort(new Error("deadline"));
  await t.throwsAsync(waiting, { message: "deadline" });
  busyNew.release();
  // Had the late lease been kept, the only slot of the new revision would be gone.
  const next = newPool.tryAcquire();
  t.truthy(next, "the new revision's slot is free again");
  next?.release();
  await draining;
  t.is(newPool.inflight, 0);
});

test("slots: at most `concurrency` per instance; a waiter is served when one is released", async (t) => {
  const pool = new RevisionPool(revision, memoryDriver(), { ...onePolicy, concurrency: 2 }, () => {});
  await pool.start();
  const a = await pool.acquire();
  const b = await pool.acquire();
  t.is(pool.tryAcquire(), undefined);
  const c = pool.acquire();
  a.release();
  const lease = await c;
  t.is(lease.instance.id, "i-1");
  b.release();
  lease.release();
  t.is(pool.inflight, 0);
});

test("a retired instance takes no more calls, is stopped, and is replaced to keep `min`", async (t) => {
  const driver = memoryDriver();
  const events: string[] = [];
  const pool = new RevisionPool(revision, driver, { ...onePolicy, min: 1, concurrency: 4 }, (e) =>
    events.push(e.type),
  );
  await pool.start();
  const wedged = await pool.acquire();
  wedged.retire();
  wedged.release();
  const next = await pool.acquire(AbortSignal.timeout(60_000));
  t.is(next.instance.id, "i-2", "a fresh instance serves the next call");
  t.is(pool.size, 1);
  t.truthy(
    await Promise.race([wedged.instance.exited, Promise.resolve(undefined)]),
    "the wedged one was stopped",
  );
  t.true(events.includes("scaled"));
  next.release();
});

test("an unreachable instance gets no new calls; its exit still counts as a crash", async (t) => {
  const driver = memoryDriver();
  const crashes: number[] = [];
  const pool = new RevisionPool(revision, driver, { ...onePolicy, max: 2, concurrency: 4 }, (e) => {
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
  const pool = new RevisionPool(revision, driver, onePolicy, () => {});
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
  const pool = new RevisionPool(revision, driver, { ...onePolicy, min: 2, max: 2 }, (e) => {
    if (e.type === "restarted" && e.instances === 2) restarted();
  });
  await pool.start();
  // start() resolves with the first instance; the second comes from the same burst.
  await new Promise((resolve) => setImmediate(resolve));
  t.is(pool.size, 2);
  driver.crash("i-1");
  driver.crash("i-2");
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
  const a = new RevisionPool(
    { ...revision, name: "a" },
    driver,
    { ...onePolicy, min: 2, max: 2 },
    () => {},
    quota,
  );
  const b = new RevisionPool(
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
  const c = new RevisionPool(
    { ...revision, name: "c" },
    driver,
    { ...onePolicy, min: 3, max: 3 },
    () => {},
    quota,
  );
  await c.start();
  await settle();
  t.is(c.size, 3);
  t.false(c.waitingForQuota);
  await c.drain();
});

test("quota: a call that needs an instance the quota keeps from starting fails naming the quota", async (t) => {
  const driver = memoryDriver();
  const quota = new InstanceQuota(1);
  const a = new RevisionPool({ ...revision, name: "a" }, driver, { ...onePolicy, min: 1 }, () => {}, quota);
  await a.start();
  const b = new RevisionPool({ ...revision, name: "b" }, driver, onePolicy, () => {}, quota);
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
  const a = new RevisionPool({ ...revision, org: "one" }, driver, { ...onePolicy, min: 1 }, () => {}, quota);
  const b = new RevisionPool({ ...revision, org: "two" }, driver, { ...onePolicy, min: 1 }, () => {}, quota);
  await a.start();
  await b.start();
  t.is(driver.live, 2);
  await a.drain();
  await b.drain();
});

test("quota: a rollout's first instance starts even when the org is at its quota; the old revision's slots then go", async (t) => {
  const driver = memoryDriver();
  const quota = new InstanceQuota(2);
  const old = new RevisionPool(revision, driver, { ...onePolicy, min: 2, max: 2 }, () => {}, quota);
  await old.start();
  await settle();
  t.is(quota.usedBy("o"), 2);
  const next = new RevisionPool(
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
