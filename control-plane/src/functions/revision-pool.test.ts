import test from "ava";
import type { Driver, Instance, InstanceExit, RevisionSpec } from "./driver.js";
import { RevisionPool } from "./revision-pool.js";

// The pool's bookkeeping, with a driver whose instances are plain objects:
// races between waiters, deadlines and rollouts are deterministic this way.
// (The real driver and workers are covered by test/functions.test.ts.)

function memoryDriver(): Driver & { started: number; crash(id: string): void } {
  const exits = new Map<string, (e: InstanceExit) => void>();
  const driver = {
    name: "memory",
    started: 0,
    /** The instance's process ends on its own (a crash). */
    crash(id: string) {
      exits.get(id)?.({ code: 1, signal: null, stopped: false });
    },
    async start(): Promise<Instance> {
      driver.started++;
      let exit!: (e: InstanceExit) => void;
      const exited = new Promise<InstanceExit>((resolve) => {
        exit = resolve;
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
  const next = await pool.acquire(AbortSignal.timeout(5_000));
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
  const second = await pool.acquire(AbortSignal.timeout(5_000));
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
