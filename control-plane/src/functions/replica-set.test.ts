import { type InstanceEvent, type InstanceExit, LoadError, type RevisionSpec } from "@dispatch/server-kit";
import test from "ava";
import { type LaunchedInstance, ReplicaSet } from "./replica-set.js";

// The local driver's replica keeping, with instances that are plain objects
// whose starts the test completes: every step is an event, none a clock.

const revision = {
  name: "f",
  org: "o",
  uid: "u",
  generation: 1n,
  bundle: { digest: "", format: "", filename: "" },
} as unknown as RevisionSpec;

/** Launches the test completes one by one (`ready`, `fail`), and instances it can crash. */
function launcher() {
  const pending: Array<{ id: string; ready(): void; fail(err: Error): void; signal: AbortSignal }> = [];
  const exits = new Map<string, (exit: InstanceExit) => void>();
  const stops: Array<{ id: string; drainMs: number | undefined }> = [];
  const launch = (_revision: RevisionSpec, id: string, signal: AbortSignal) =>
    new Promise<LaunchedInstance>((resolve, reject) => {
      let exit!: (e: InstanceExit) => void;
      const exited = new Promise<InstanceExit>((r) => {
        exit = r;
      });
      exits.set(id, exit);
      const instance: LaunchedInstance = {
        id,
        url: `memory://${id}`,
        token: `token-${id}`,
        exited,
        stop: async (drainMs) => {
          stops.push({ id, drainMs });
          exit({ code: 0, signal: null, stopped: true });
        },
      };
      signal.addEventListener("abort", () => reject(new LoadError("not needed any more")), { once: true });
      pending.push({ id, ready: () => resolve(instance), fail: reject, signal });
    });
  return {
    launch,
    pending,
    stops,
    crash: (id: string) => exits.get(id)?.({ code: 1, signal: null, stopped: false }),
  };
}

/** Reads a subscription into an array, and lets a test wait for what it expects. */
function collect(events: AsyncIterable<InstanceEvent>) {
  const seen: InstanceEvent[] = [];
  const waits: Array<() => void> = [];
  const ended = (async () => {
    for await (const event of events) {
      seen.push(event);
      for (const wake of waits.splice(0)) wake();
    }
  })();
  return {
    seen,
    ended,
    /** Resolves once `check` holds for what was seen. */
    async until(check: (seen: InstanceEvent[]) => boolean): Promise<void> {
      while (!check(seen)) await new Promise<void>((resolve) => waits.push(resolve));
    },
  };
}

const count = (seen: InstanceEvent[], type: InstanceEvent["type"]) =>
  seen.filter((e) => e.type === type).length;
const fastBackoff = { initialMs: 5, maxMs: 20, resetMs: 60_000 };

/** A restart's timer does not hold a process open (unref): a test that waits for one must stay up. */
function stayUp(t: { teardown(fn: () => void): void }): void {
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
}

test("scale starts what is missing and stops the surplus: what is still starting first, then the newest", async (t) => {
  const fake = launcher();
  let n = 0;
  const set = new ReplicaSet(revision, fake.launch, () => `i${++n}`);
  const events = collect(set.subscribe(new AbortController().signal));
  set.scale(3);
  t.is(fake.pending.length, 3);
  fake.pending[0]?.ready();
  fake.pending[1]?.ready();
  await events.until((seen) => count(seen, "ready") === 2);
  // Two too many: the one still starting goes first, then the newest ready one.
  set.scale(1);
  await events.until((seen) => count(seen, "gone") === 2);
  t.true(fake.pending[2]?.signal.aborted, "the start in progress was given up");
  t.deepEqual(
    fake.stops.map((s) => s.id),
    ["i2"],
  );
  t.deepEqual(
    events.seen
      .flatMap((e) => (e.type === "gone" ? [`${e.id} ${e.exit.stopped ? "stopped" : "crashed"}`] : []))
      .sort(),
    ["i2 stopped", "i3 stopped"],
  );
  await set.remove();
  await events.ended;
});

test("a crash is replaced after the backoff; lowering the replicas before it fires cancels the replacement", async (t) => {
  stayUp(t);
  const fake = launcher();
  let n = 0;
  const set = new ReplicaSet(revision, fake.launch, () => `i${++n}`, fastBackoff);
  const events = collect(set.subscribe(new AbortController().signal));
  set.scale(2);
  for (const p of fake.pending) p.ready();
  await events.until((seen) => count(seen, "ready") === 2);
  fake.crash("i1");
  await events.until((seen) => count(seen, "gone") === 1);
  const gone = events.seen.find((e) => e.type === "gone");
  t.like(gone, { type: "gone", id: "i1", exit: { code: 1, stopped: false }, restartInMs: 5 });
  // The replacement comes after the backoff.
  await events.until((seen) => count(seen, "starting") === 3);
  fake.pending[2]?.ready();
  await events.until((seen) => count(seen, "ready") === 3);

  // A second crash, and the replicas lowered at once: nothing replaces it.
  fake.crash("i2");
  await events.until((seen) => count(seen, "gone") === 2);
  t.like(events.seen.filter((e) => e.type === "gone")[1], { id: "i2", restartInMs: 10 });
  set.scale(1);
  const startsBefore = fake.pending.length;
  // Another change that must come after the cancelled replacement would have: a scale up.
  set.scale(2);
  t.is(fake.pending.length, startsBefore + 1, "one start for the scale up, none left over for the crash");
  fake.pending.at(-1)?.ready();
  await events.until((seen) => count(seen, "ready") === 4);
  await set.remove();
  t.is(count(events.seen, "starting"), 4);
});

test("a named stop with the replicas unchanged replaces the instance at once (a wedged one, drain 0)", async (t) => {
  const fake = launcher();
  let n = 0;
  const set = new ReplicaSet(revision, fake.launch, () => `i${++n}`);
  const events = collect(set.subscribe(new AbortController().signal));
  set.scale(1);
  fake.pending[0]?.ready();
  await events.until((seen) => count(seen, "ready") === 1);
  set.scale(1, { stop: ["i1"], drainMs: 0 });
  t.deepEqual(fake.stops, [{ id: "i1", drainMs: 0 }]);
  t.is(fake.pending.length, 2, "the replacement started without a backoff");
  fake.pending[1]?.ready();
  await events.until((seen) => count(seen, "ready") === 2 && count(seen, "gone") === 1);
  t.like(
    events.seen.find((e) => e.type === "gone"),
    { id: "i1", exit: { stopped: true } },
  );
  await set.remove();
});

test("a start that fails is reported with its error, and tried again after the backoff while wanted", async (t) => {
  stayUp(t);
  const fake = launcher();
  let n = 0;
  const set = new ReplicaSet(revision, fake.launch, () => `i${++n}`, fastBackoff);
  const events = collect(set.subscribe(new AbortController().signal));
  set.scale(1);
  fake.pending[0]?.fail(new LoadError("SyntaxError: Unexpected token"));
  await events.until((seen) => count(seen, "failed") === 1);
  const failed = events.seen.find((e) => e.type === "failed");
  t.true(failed?.type === "failed" && failed.error instanceof LoadError);
  t.like(failed, { id: "i1", restartInMs: 5, error: { message: "SyntaxError: Unexpected token" } });
  await events.until((seen) => count(seen, "starting") === 2);
  fake.pending[1]?.ready();
  await events.until((seen) => count(seen, "ready") === 1);
  await set.remove();
});

test("a new subscriber first gets the instances there are; remove waits for every exit, reports it, then ends", async (t) => {
  const fake = launcher();
  let n = 0;
  const set = new ReplicaSet(revision, fake.launch, () => `i${++n}`);
  set.scale(2);
  fake.pending[0]?.ready();
  const first = collect(set.subscribe(new AbortController().signal));
  await first.until((seen) => count(seen, "ready") === 1);
  const late = collect(set.subscribe(new AbortController().signal));
  await late.until((seen) => seen.length === 3);
  t.deepEqual(
    late.seen.map((e) => e.type),
    ["starting", "starting", "ready"],
    "i2 still starting, i1 ready",
  );
  await set.remove();
  await late.ended;
  await first.ended;
  t.is(count(late.seen, "gone"), 2, "both reported before the subscription ended");
  // A removed set starts nothing.
  set.scale(3);
  t.is(fake.pending.length, 2);
});
