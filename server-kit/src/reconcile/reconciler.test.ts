import test from "ava";
import type { ReconcileEvent } from "./events.js";
import { createLeaderGate } from "./leader-gate.js";
import { createReconciler, ReconcileCancelledError, type ReconcileRequest } from "./reconciler.js";
import type { Timers } from "./timers.js";

/** A test object: a spec generation and a status-ish note. */
interface Obj {
  name: string;
  generation: number;
  note?: string;
}

/**
 * An event feed driven by the test. `push` resolves once the reconciler has
 * taken the event in (it asked for the next one), so what follows sees its effect.
 */
function createFeed() {
  const pending: Array<{ event: ReconcileEvent<Obj>; taken: () => void }> = [];
  let waiting: ((result: IteratorResult<ReconcileEvent<Obj>>) => void) | undefined;
  let failWaiting: ((err: unknown) => void) | undefined;
  let lastTaken: (() => void) | undefined;
  let failure: unknown;
  const deliver = () => {
    const next = waiting && pending.shift();
    if (!next || !waiting) return;
    const resolve = waiting;
    waiting = undefined;
    failWaiting = undefined;
    lastTaken = next.taken;
    resolve({ value: next.event, done: false });
  };
  let revision = 0n;
  const push = (event: ReconcileEvent<Obj>) =>
    new Promise<void>((taken) => {
      pending.push({ event, taken });
      deliver();
    });
  return {
    upsert: (object: Obj) => push({ type: "upsert", key: object.name, object, revision: ++revision }),
    remove: (key: string) => push({ type: "delete", key, revision: ++revision }),
    synced: () => push({ type: "synced", revision }),
    push,
    fail(err: unknown) {
      failure = err;
      failWaiting?.(err);
    },
    events: {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          new Promise<IteratorResult<ReconcileEvent<Obj>>>((resolve, reject) => {
            lastTaken?.();
            lastTaken = undefined;
            if (failure !== undefined) return reject(failure);
            waiting = resolve;
            failWaiting = reject;
            deliver();
          }),
        return: async () => ({ value: undefined, done: true as const }),
      }),
    },
  };
}

/** Timers that fire only when the test says so. */
function createManualTimers() {
  const scheduled = new Map<number, { callback: () => void; ms: number }>();
  const waiters: Array<() => void> = [];
  let next = 0;
  const timers: Timers = {
    setTimeout(callback, ms) {
      const id = ++next;
      scheduled.set(id, { callback, ms });
      for (const wake of waiters.splice(0)) wake();
      return id;
    },
    clearTimeout(handle) {
      scheduled.delete(handle as number);
    },
  };
  return {
    timers,
    /** The delays of the timers pending now. */
    pending: () => [...scheduled.values()].map((t) => t.ms),
    /** Resolves once a timer is pending. */
    async scheduled(): Promise<void> {
      while (scheduled.size === 0) await new Promise<void>((wake) => waiters.push(wake));
    },
    /** Fires every pending timer. */
    fireAll() {
      const due = [...scheduled.values()];
      scheduled.clear();
      for (const t of due) t.callback();
    },
  };
}

/** A list that tells when it has grown to a length. */
function createList<T>() {
  const items: T[] = [];
  const waiters: Array<{ length: number; wake: () => void }> = [];
  return {
    items,
    push(item: T) {
      items.push(item);
      for (const w of waiters.filter((w) => items.length >= w.length)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.wake();
      }
    },
    reach(length: number) {
      return new Promise<void>((wake) => {
        if (items.length >= length) wake();
        else waiters.push({ length, wake });
      });
    },
  };
}

/** A promise with its resolve, for reconciles that wait until the test lets them go. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Records reconcile runs; each run can be held until released. */
function createRecorder() {
  const runs: Array<{ key: string; object: Obj | undefined; retries: number }> = [];
  const started: Array<{ count: number; wake: () => void }> = [];
  let active = 0;
  let maxActivePerKey = 0;
  const activeByKey = new Map<string, number>();
  return {
    runs,
    get maxActivePerKey() {
      return maxActivePerKey;
    },
    get active() {
      return active;
    },
    /** Call at the start of a reconcile. */
    begin(request: ReconcileRequest<Obj, unknown>) {
      runs.push({ key: request.key, object: request.object, retries: request.retries });
      active++;
      const n = (activeByKey.get(request.key) ?? 0) + 1;
      activeByKey.set(request.key, n);
      maxActivePerKey = Math.max(maxActivePerKey, n);
      for (const s of started.filter((s) => runs.length >= s.count)) {
        started.splice(started.indexOf(s), 1);
        s.wake();
      }
    },
    end(request: ReconcileRequest<Obj, unknown>) {
      active--;
      activeByKey.set(request.key, (activeByKey.get(request.key) ?? 1) - 1);
    },
    /** Resolves once `count` runs have started in all. */
    started(count: number) {
      return new Promise<void>((wake) => {
        if (runs.length >= count) wake();
        else started.push({ count, wake });
      });
    },
  };
}

const noLog = () => undefined;

test("reconcile: one run per key at a time; changes during a run coalesce into one more run with the latest object", async (t) => {
  const feed = createFeed();
  const record = createRecorder();
  const hold = deferred();
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    async reconcile(request) {
      record.begin(request);
      if (request.object?.generation === 1) await hold.promise;
      record.end(request);
      return undefined;
    },
    log: noLog,
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.synced();
  await reconciler.synced;
  await record.started(1);
  await feed.upsert({ name: "a", generation: 2 });
  await feed.upsert({ name: "a", generation: 3 });
  t.is(record.runs.length, 1, "nothing runs beside the run in progress");
  hold.resolve();
  await reconciler.idle();
  t.deepEqual(
    record.runs.map((r) => r.object?.generation),
    [1, 3],
  );
  t.is(record.maxActivePerKey, 1);
  t.is(reconciler.get("a")?.generation, 3);
  await reconciler.close();
});

test("reconcile: a change that needs a reconcile aborts the running one's signal; a change that does not neither aborts nor reruns", async (t) => {
  const feed = createFeed();
  const record = createRecorder();
  const aborted: unknown[] = [];
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    needsReconcile: (previous, next) => previous.generation !== next.generation,
    async reconcile(request) {
      record.begin(request);
      if (request.object?.generation === 1) {
        // A long start, given up when the spec changes.
        await new Promise<void>((resolve) =>
          request.signal.addEventListener("abort", () => {
            aborted.push(request.signal.reason);
            resolve();
          }),
        );
      }
      record.end(request);
      return undefined;
    },
    log: noLog,
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.synced();
  await record.started(1);
  await feed.upsert({ name: "a", generation: 1, note: "a status write" });
  t.deepEqual(aborted, [], "a status-only change leaves the run alone");
  await feed.upsert({ name: "a", generation: 2 });
  await reconciler.idle();
  t.is(aborted.length, 1);
  t.true(aborted[0] instanceof ReconcileCancelledError);
  t.is((aborted[0] as ReconcileCancelledError).why, "superseded");
  t.deepEqual(
    record.runs.map((r) => r.object?.generation),
    [1, 2],
  );
  // Idle now: a status-only change of the latest object is taken in without a run.
  await feed.upsert({ name: "a", generation: 2, note: "READY" });
  await reconciler.idle();
  t.is(record.runs.length, 2);
  t.is(reconciler.get("a")?.note, "READY", "the latest object is kept all the same");
  await reconciler.close();
});

test("reconcile: keys run side by side, so a long reconcile never holds up another key", async (t) => {
  const feed = createFeed();
  const record = createRecorder();
  const hold = deferred();
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    async reconcile(request) {
      record.begin(request);
      if (request.key === "slow") await hold.promise;
      record.end(request);
      return undefined;
    },
    log: noLog,
  });
  await feed.upsert({ name: "slow", generation: 1 });
  await feed.upsert({ name: "quick", generation: 1 });
  await feed.synced();
  await record.started(2);
  await feed.upsert({ name: "quick", generation: 2 });
  await record.started(3);
  t.deepEqual(
    record.runs.map((r) => `${r.key}@${r.object?.generation}`),
    ["slow@1", "quick@1", "quick@2"],
  );
  t.is(record.active, 1, "only the slow one still runs");
  hold.resolve();
  await reconciler.idle();
  await reconciler.close();
});

test("reconcile: with a concurrency of 1, keys wait their turn", async (t) => {
  const feed = createFeed();
  const record = createRecorder();
  const hold = deferred();
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    concurrency: 1,
    async reconcile(request) {
      record.begin(request);
      if (request.key === "first") await hold.promise;
      record.end(request);
      return undefined;
    },
    log: noLog,
  });
  await feed.upsert({ name: "first", generation: 1 });
  await feed.upsert({ name: "second", generation: 1 });
  await feed.synced();
  await record.started(1);
  t.deepEqual(
    record.runs.map((r) => r.key),
    ["first"],
  );
  hold.resolve();
  await reconciler.idle();
  t.deepEqual(
    record.runs.map((r) => r.key),
    ["first", "second"],
  );
  await reconciler.close();
});

test("reconcile: a failed run is retried with exponential backoff and jitter, and a success resets the count", async (t) => {
  const feed = createFeed();
  const clock = createManualTimers();
  const record = createRecorder();
  let failuresLeft = 3;
  const logged: string[] = [];
  const jitter = [0, 0.5, 1];
  let draws = 0;
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    timers: clock.timers,
    backoff: { initialMs: 100, maxMs: 250, jitter: 0.5 },
    random: () => jitter[draws++ % jitter.length] ?? 0,
    async reconcile(request) {
      record.begin(request);
      record.end(request);
      if (failuresLeft-- > 0) throw new Error("the backend said no");
      return undefined;
    },
    log: (message) => logged.push(message),
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.synced();
  await record.started(1);
  // Waits: 100 (random 0), 200 × (1 - 0.5 × 0.5) = 150, then 400 capped at 250 × (1 - 0.5 × 1) = 125.
  const delays: number[] = [];
  for (let attempt = 2; attempt <= 4; attempt++) {
    await clock.scheduled();
    delays.push(...clock.pending());
    clock.fireAll();
    await record.started(attempt);
  }
  await reconciler.idle();
  t.deepEqual(delays, [100, 150, 125]);
  t.deepEqual(
    record.runs.map((r) => r.retries),
    [0, 1, 2, 3],
    "each run knows how many failed before it",
  );
  t.is(logged.length, 3);
  t.regex(logged[0] ?? "", /^reconciling a failed \(1 time in a row\); retrying in 100 ms$/);
  // A success resets the count: the next failure waits the first delay again.
  failuresLeft = 1;
  draws = 0;
  reconciler.enqueue("a");
  await clock.scheduled();
  t.deepEqual(clock.pending(), [100]);
  await reconciler.close();
  t.deepEqual(clock.pending(), [], "close drops pending retries");
});

test("reconcile: a newer change replaces a pending retry and runs at once", async (t) => {
  const feed = createFeed();
  const clock = createManualTimers();
  const record = createRecorder();
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    timers: clock.timers,
    async reconcile(request) {
      record.begin(request);
      record.end(request);
      if (request.object?.generation === 1) throw new Error("generation 1 cannot work");
      return undefined;
    },
    log: noLog,
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.synced();
  await clock.scheduled();
  await feed.upsert({ name: "a", generation: 2 });
  await reconciler.idle();
  t.deepEqual(clock.pending(), [], "the retry is dropped");
  t.deepEqual(
    record.runs.map((r) => [r.object?.generation, r.retries]),
    [
      [1, 0],
      [2, 1],
    ],
  );
  await reconciler.close();
});

test("reconcile: the first synced ends the initial list; a later one (the watch restarted) reconciles every key again", async (t) => {
  const feed = createFeed();
  const record = createRecorder();
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    async reconcile(request) {
      record.begin(request);
      record.end(request);
      return undefined;
    },
    log: noLog,
  });
  let synced = false;
  void reconciler.synced.then(() => {
    synced = true;
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.upsert({ name: "b", generation: 1 });
  t.false(synced);
  await feed.synced();
  await reconciler.synced;
  await reconciler.idle();
  t.deepEqual(record.runs.map((r) => r.key).sort(), ["a", "b"]);
  await feed.synced();
  await reconciler.idle();
  t.deepEqual(record.runs.map((r) => r.key).sort(), ["a", "a", "b", "b"]);
  await reconciler.close();
});

test("reconcile: a delete is reconciled with no object, then the key is forgotten; a repeated or older change is ignored", async (t) => {
  const feed = createFeed();
  const record = createRecorder();
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    async reconcile(request) {
      record.begin(request);
      record.end(request);
      return undefined;
    },
    log: noLog,
  });
  await feed.push({ type: "upsert", key: "a", object: { name: "a", generation: 1 }, revision: 5n });
  await feed.push({ type: "synced", revision: 5n });
  await reconciler.idle();
  // A watch that resumed a little early repeats revision 5, and an older change arrives late.
  await feed.push({ type: "upsert", key: "a", object: { name: "a", generation: 1 }, revision: 5n });
  await feed.push({ type: "upsert", key: "a", object: { name: "a", generation: 0 }, revision: 4n });
  await reconciler.idle();
  t.is(record.runs.length, 1);
  await feed.push({ type: "delete", key: "a", revision: 6n });
  await reconciler.idle();
  t.deepEqual(
    record.runs.map((r) => r.object?.generation),
    [1, undefined],
  );
  t.is(reconciler.get("a"), undefined);
  // Forgotten: a resync does not reconcile it again, and a delete of an unknown key is nothing to do.
  await feed.push({ type: "delete", key: "never-seen", revision: 7n });
  await feed.push({ type: "synced", revision: 7n });
  await reconciler.idle();
  t.is(record.runs.length, 2);
  await reconciler.close();
});

test("reconcile: a follower runs nothing; losing leadership aborts the runs and starts no new ones; becoming the leader resyncs every key", async (t) => {
  const feed = createFeed();
  const record = createRecorder();
  const leader = createLeaderGate(false);
  const aborted: unknown[] = [];
  const written = createList<string>();
  const writes = written.items;
  const reconciler = createReconciler<Obj, string>({
    events: feed.events,
    leader,
    async reconcile(request) {
      record.begin(request);
      if (request.object?.note === "long") {
        await new Promise<void>((resolve) =>
          request.signal.addEventListener("abort", () => {
            aborted.push(request.signal.reason);
            resolve();
          }),
        );
      }
      record.end(request);
      return `seen ${request.object?.generation}`;
    },
    async writeStatus(key, status) {
      written.push(`${key}: ${status}`);
    },
    log: noLog,
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.upsert({ name: "b", generation: 1, note: "long" });
  await feed.synced();
  await reconciler.synced;
  await reconciler.idle();
  t.is(record.runs.length, 0, "a follower reconciles nothing");

  leader.set(true);
  await record.started(2);
  await written.reach(1);
  t.deepEqual(writes, ["a: seen 1"]);

  leader.set(false);
  await reconciler.idle();
  t.is(aborted.length, 1);
  t.is((aborted[0] as ReconcileCancelledError).why, "leadership-lost");
  t.deepEqual(writes, ["a: seen 1"], "a run cut short by the lost leadership writes no status");
  await feed.upsert({ name: "a", generation: 2 });
  await reconciler.idle();
  t.is(record.runs.length, 2, "no new run while not the leader");

  leader.set(true);
  await record.started(4);
  await feed.upsert({ name: "b", generation: 2 });
  await reconciler.idle();
  t.deepEqual(
    record.runs.slice(2).map((r) => `${r.key}@${r.object?.generation}`),
    ["a@2", "b@1", "b@2"],
    "every key again, with its latest object",
  );
  t.true(writes.includes("a: seen 2"));
  await reconciler.close();
});

test("reconcile: the returned status is written; a failed write fails the run, retried; writes of a key never overlap; report asks for the status at its turn", async (t) => {
  const feed = createFeed();
  const clock = createManualTimers();
  const writes: string[] = [];
  let writing = 0;
  let overlapped = false;
  let failWrites = 1;
  const gate = deferred();
  let current = "starting";
  const reconciler = createReconciler<Obj, string>({
    events: feed.events,
    timers: clock.timers,
    async reconcile(request) {
      if (request.object?.generation === 1) {
        await request.report("CREATING");
        return "READY";
      }
      return undefined;
    },
    async writeStatus(key, status) {
      writing++;
      overlapped ||= writing > 1;
      if (status === "held") await gate.promise;
      writing--;
      if (status === "READY" && failWrites-- > 0) throw new Error("NATS did not answer");
      writes.push(`${key}: ${status}`);
    },
    log: noLog,
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.synced();
  await clock.scheduled();
  t.deepEqual(writes, ["a: CREATING"], "the failed write of READY is not recorded");
  clock.fireAll();
  await reconciler.idle();
  t.deepEqual(writes, ["a: CREATING", "a: CREATING", "a: READY"]);

  // Reports outside the queue: the second asks for its status only after the first was written.
  const first = reconciler.report("a", () => "held");
  const second = reconciler.report("a", () => current);
  current = "changed while the first write was in flight";
  gate.resolve();
  await Promise.all([first, second]);
  t.deepEqual(writes.slice(3), ["a: held", "a: changed while the first write was in flight"]);
  t.false(overlapped);
  await reconciler.close();
});

test("reconcile: synced rejects when the feed fails before it; close aborts running reconciles and waits for them", async (t) => {
  const failing = createFeed();
  const logged: string[] = [];
  const broken = createReconciler<Obj, never>({
    events: failing.events,
    reconcile: async () => undefined,
    log: (message) => logged.push(message),
  });
  failing.fail(new Error("no JetStream"));
  await t.throwsAsync(broken.synced, { message: "no JetStream" });
  t.deepEqual(logged, ["the event feed failed; changes are no longer followed"]);
  await broken.close();

  const feed = createFeed();
  const reasons: unknown[] = [];
  let finished = false;
  const reconciler = createReconciler<Obj, never>({
    events: feed.events,
    async reconcile(request) {
      await new Promise<void>((resolve) =>
        request.signal.addEventListener("abort", () => {
          reasons.push(request.signal.reason);
          resolve();
        }),
      );
      finished = true;
      return undefined;
    },
    log: noLog,
  });
  await feed.upsert({ name: "a", generation: 1 });
  await feed.synced();
  await reconciler.synced;
  await reconciler.close();
  t.true(finished, "close waited for the run");
  t.is((reasons[0] as ReconcileCancelledError).why, "closing");
});
