import test from "ava";
import { wantedReplicas } from "./autoscale.js";

const policy = { min: 0, max: 3, concurrency: 2, idleMs: 60_000 };
const at = (leases: number, reported = 0, unreachable = false) => ({ leases, reported, unreachable });

test("the calls in flight over the concurrency, rounded up, the worker's report counting when it sees more", (t) => {
  t.is(wantedReplicas(policy, { instances: [], waiting: 0, floor: 0 }), 0, "nothing to do: zero");
  t.is(wantedReplicas(policy, { instances: [at(1)], waiting: 0, floor: 0 }), 1);
  t.is(wantedReplicas(policy, { instances: [at(2), at(1)], waiting: 0, floor: 0 }), 2);
  t.is(
    wantedReplicas(policy, { instances: [at(0, 4)], waiting: 0, floor: 0 }),
    2,
    "calls the invoker did not send",
  );
  t.is(
    wantedReplicas(policy, { instances: [at(2, 1)], waiting: 0, floor: 0 }),
    1,
    "a stale report counts no more than the pool's own",
  );
  t.is(
    wantedReplicas(policy, { instances: [at(2, 2)], waiting: 1, floor: 0 }),
    2,
    "callers waiting count too",
  );
});

test("at least min, at least one while a caller waits or a revision starts, at most max", (t) => {
  t.is(wantedReplicas({ ...policy, min: 2 }, { instances: [], waiting: 0, floor: 0 }), 2);
  t.is(wantedReplicas(policy, { instances: [], waiting: 1, floor: 0 }), 1);
  t.is(wantedReplicas(policy, { instances: [], waiting: 0, floor: 1 }), 1);
  t.is(wantedReplicas(policy, { instances: [at(0, 1_000)], waiting: 50, floor: 0 }), 3);
});

test("an unreachable instance counts against max but carries nothing", (t) => {
  t.is(wantedReplicas(policy, { instances: [at(0, 0, true)], waiting: 1, floor: 0 }), 2);
  t.is(wantedReplicas({ ...policy, max: 1 }, { instances: [at(0, 0, true)], waiting: 1, floor: 0 }), 1);
});
