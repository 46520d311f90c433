import test from "ava";
import type { Driver, Instance, InstanceExit, RevisionSpec } from "./driver.js";
import { RevisionPool } from "./revision-pool.js";

// The pool's bookkeeping, with a driver whose instances are plain objects:
// races between waiters, deadlines and rollouts are deterministic this way.
// (The real driver and workers are covered by test/functions.test.ts.)

function memoryDriver(): Driver & { started: number } {
  const driver = {
    name: "memory",
    started: 0,
    async start(): Promise<Instance> {
      driver.started++;
      let exit!: (e: InstanceExit) => void;
      const exited = new Promise<InstanceExit>((resolve) => {
        exit = resolve;
      });
      return {
        id: `i-${driver.started}`,
        url: `memory://${driver.started}`,
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
