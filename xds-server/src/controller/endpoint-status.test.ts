import { clone, create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type Condition,
  ConditionSchema,
  ConditionStatus,
  type Endpoint,
  EndpointSchema,
  EndpointStatusSchema,
  Phase,
  type EndpointStatus as Status,
} from "@dispatch/proto";
import test from "ava";
import type { EndpointProblem, ProblemReason } from "../translate/snapshot.js";
import { endpointConditions, endpointStatus, sameStatus } from "./endpoint-status.js";
import type { Rollout } from "./rollout-tracker.js";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:01:00Z");
const t2 = new Date("2026-01-01T00:02:00Z");

const endpoint = (status?: Status): Endpoint =>
  create(EndpointSchema, {
    meta: { org: "o", name: "x", generation: 3n, revision: 7n },
    spec: { function: "f", paths: ["/x"] },
    ...(status ? { status } : {}),
  });

const problem = (reason: ProblemReason, message: string): EndpointProblem => ({
  endpoint: "o/x",
  reason,
  message,
  served: !["InvalidSpec", "RouteConflict", "RejectedByValidation"].includes(reason),
});

const applied: Rollout = { state: "applied", proxies: ["p1", "p2"] };

/** type → [status, reason] of each condition, in order. */
const summary = (status: Status) =>
  status.conditions.map((c) => [c.type, ConditionStatus[c.status], c.reason]);
const condition = (status: Status, type: string): Condition | undefined =>
  status.conditions.find((c) => c.type === type);
const transition = (status: Status, type: string) => {
  const at = condition(status, type)?.lastTransition;
  return at ? timestampDate(at).toISOString() : undefined;
};

test("endpoint status: accepted, resolved, its functions ready and applied by every proxy: READY, no reason", (t) => {
  const status = endpointStatus(endpoint(), [], applied, t0);
  t.is(status.phase, Phase.READY);
  t.deepEqual(summary(status), [
    ["Accepted", "TRUE", "Accepted"],
    ["ResolvedRefs", "TRUE", "ResolvedRefs"],
    ["BackendReady", "TRUE", "BackendReady"],
    ["Programmed", "TRUE", "Applied"],
    ["Ready", "TRUE", "Ready"],
  ]);
  t.is(condition(status, endpointConditions.programmed)?.message, "applied by 2 proxies: p1, p2");
  t.deepEqual(status.reason, []);
  t.is(status.observedGeneration, 3n, "observedGeneration is meta.generation");
  for (const c of status.conditions) t.is(transition(status, c.type), t0.toISOString(), c.type);

  const one = endpointStatus(endpoint(), [], { state: "applied", proxies: ["gw"] }, t0);
  t.is(condition(one, endpointConditions.programmed)?.message, "applied by 1 proxy: gw");
});

test("endpoint status: waiting for proxies to apply it: CREATING, Programmed UNKNOWN, the reason names them", (t) => {
  const status = endpointStatus(
    endpoint(),
    [],
    { state: "pending", proxies: ["p1", "p2", "p3"], pending: ["p2", "p3"] },
    t0,
  );
  t.is(status.phase, Phase.CREATING);
  const message = "waiting for 2 proxies to apply it: p2, p3";
  t.like(condition(status, endpointConditions.programmed), {
    status: ConditionStatus.UNKNOWN,
    reason: "Pending",
    message,
  });
  t.like(condition(status, endpointConditions.ready), {
    status: ConditionStatus.FALSE,
    reason: "NotReady",
    message,
  });
  t.deepEqual(status.reason, [message]);
  t.is(
    endpointStatus(endpoint(), [], { state: "pending", proxies: ["p1"], pending: ["p1"] }, t0).reason[0],
    "waiting for 1 proxy to apply it: p1",
  );
});

test("endpoint status: no data plane connected: CREATING, Programmed UNKNOWN NoDataPlane, the reason says to start one", (t) => {
  const status = endpointStatus(endpoint(), [], { state: "no-data-plane" }, t0);
  t.is(status.phase, Phase.CREATING);
  t.like(condition(status, endpointConditions.programmed), {
    status: ConditionStatus.UNKNOWN,
    reason: "NoDataPlane",
  });
  t.is(status.reason.length, 1);
  t.regex(status.reason[0] ?? "", /no gateway or Envoy is connected/);
  t.regex(status.reason[0] ?? "", /dispatch up starts the gateway/);
  t.is(condition(status, endpointConditions.ready)?.status, ConditionStatus.FALSE);
});

test("endpoint status: a proxy refused the configuration that carries it: ERROR with the proxy and its message", (t) => {
  const status = endpointStatus(
    endpoint(),
    [],
    { state: "rejected", proxy: "gw-1", message: "invalid regex: missing )" },
    t0,
  );
  t.is(status.phase, Phase.ERROR);
  const programmed = condition(status, endpointConditions.programmed);
  t.is(programmed?.status, ConditionStatus.FALSE);
  t.is(programmed?.reason, "RejectedByProxy");
  t.regex(programmed?.message ?? "", /^proxy "gw-1" refused the configuration that carries it/);
  t.regex(programmed?.message ?? "", /invalid regex: missing \)$/);
  t.deepEqual(status.reason, [programmed?.message]);
  t.like(condition(status, endpointConditions.accepted), { status: ConditionStatus.TRUE });
  t.like(condition(status, endpointConditions.ready), {
    status: ConditionStatus.FALSE,
    message: programmed?.message,
  });
});

for (const reason of ["InvalidSpec", "RouteConflict", "RejectedByValidation"] as const) {
  test(`endpoint status: ${reason}: not accepted, not served, ERROR; the reason is the problem's own words`, (t) => {
    const p = problem(reason, `${reason}: what is wrong and how to fix it`);
    const status = endpointStatus(endpoint(), [p], undefined, t0);
    t.is(status.phase, Phase.ERROR);
    t.deepEqual(summary(status), [
      ["Accepted", "FALSE", reason],
      ["ResolvedRefs", "TRUE", "ResolvedRefs"],
      ["BackendReady", "TRUE", "BackendReady"],
      ["Programmed", "FALSE", "NotServed"],
      ["Ready", "FALSE", "NotReady"],
    ]);
    t.is(condition(status, endpointConditions.accepted)?.message, p.message);
    t.regex(condition(status, endpointConditions.programmed)?.message ?? "", /left out of the configuration/);
    t.deepEqual(status.reason, [p.message]);
    t.is(condition(status, endpointConditions.ready)?.message, p.message);
  });
}

test("endpoint status: a missing function or token secret: ResolvedRefs FALSE and ERROR, even though it is applied", (t) => {
  for (const reason of ["FunctionNotFound", "TokenSecretProblem"] as const) {
    const p = problem(reason, `${reason} message`);
    const status = endpointStatus(endpoint(), [p], applied, t0);
    t.is(status.phase, Phase.ERROR, reason);
    t.deepEqual(
      summary(status),
      [
        ["Accepted", "TRUE", "Accepted"],
        ["ResolvedRefs", "FALSE", reason],
        ["BackendReady", "TRUE", "BackendReady"],
        ["Programmed", "TRUE", "Applied"],
        ["Ready", "FALSE", "NotReady"],
      ],
      reason,
    );
    t.deepEqual(status.reason, [p.message], reason);
  }
});

test("endpoint status: a function not ready yet: BackendReady FALSE, CREATING (it waits for it)", (t) => {
  const p = problem("FunctionNotReady", 'function "f" is starting; calls get a 503 until it is ready');
  const status = endpointStatus(endpoint(), [p], applied, t0);
  t.is(status.phase, Phase.CREATING);
  t.like(condition(status, endpointConditions.backendReady), {
    status: ConditionStatus.FALSE,
    reason: "FunctionNotReady",
    message: p.message,
  });
  t.like(condition(status, endpointConditions.ready), { status: ConditionStatus.FALSE, message: p.message });
  t.deepEqual(status.reason, [p.message]);

  const waiting = endpointStatus(endpoint(), [p], { state: "pending", proxies: ["p1"], pending: ["p1"] }, t0);
  t.is(waiting.phase, Phase.CREATING);
  t.deepEqual(waiting.reason, [p.message, "waiting for 1 proxy to apply it: p1"], "each thing, in order");
});

test("endpoint status: not translated yet: CREATING, Programmed FALSE NotServed, and the reason says so", (t) => {
  const status = endpointStatus(endpoint(), [], undefined, t0);
  t.is(status.phase, Phase.CREATING);
  const programmed = condition(status, endpointConditions.programmed);
  t.like(programmed, { status: ConditionStatus.FALSE, reason: "NotServed" });
  t.regex(programmed?.message ?? "", /has not translated it/);
  t.deepEqual(status.reason, [programmed?.message], "what keeps it from READY is listed");
  t.is(condition(status, endpointConditions.ready)?.message, programmed?.message);
});

test("endpoint status: every problem is in the reason list; each condition says the first of its kind", (t) => {
  const missing = problem("FunctionNotFound", 'function "f" does not exist');
  const missingToo = problem("FunctionNotFound", 'function "g" does not exist');
  const secret = problem("TokenSecretProblem", 'secret "s" does not exist in org "o": every call is refused');
  const starting = problem("FunctionNotReady", 'function "h" is starting');
  const status = endpointStatus(endpoint(), [missing, starting, missingToo, secret], applied, t0);
  t.is(status.phase, Phase.ERROR);
  t.like(condition(status, endpointConditions.resolvedRefs), {
    status: ConditionStatus.FALSE,
    reason: "FunctionNotFound",
    message: missing.message,
  });
  t.like(condition(status, endpointConditions.backendReady), {
    status: ConditionStatus.FALSE,
    message: starting.message,
  });
  t.deepEqual(status.reason, [missing.message, missingToo.message, secret.message, starting.message]);
  t.is(condition(status, endpointConditions.ready)?.message, missing.message);

  const invalid = endpointStatus(
    endpoint(),
    [problem("InvalidSpec", "spec.paths[0]: bad"), problem("InvalidSpec", "spec.hosts[1]: bad")],
    undefined,
    t0,
  );
  t.deepEqual(invalid.reason, ["spec.paths[0]: bad", "spec.hosts[1]: bad"]);
  t.is(condition(invalid, endpointConditions.accepted)?.message, "spec.paths[0]: bad");
});

test("endpoint status: lastTransition stays while a condition's status does not change, and moves when it does", (t) => {
  const first = endpointStatus(endpoint(), [], { state: "pending", proxies: ["p1"], pending: ["p1"] }, t0);
  // Another proxy to wait for: a new message, the same status.
  const second = endpointStatus(
    endpoint(first),
    [],
    { state: "pending", proxies: ["p1", "p2"], pending: ["p1", "p2"] },
    t1,
  );
  t.is(
    condition(second, endpointConditions.programmed)?.message,
    "waiting for 2 proxies to apply it: p1, p2",
  );
  for (const c of second.conditions) t.is(transition(second, c.type), t0.toISOString(), c.type);

  const third = endpointStatus(endpoint(second), [], applied, t2);
  t.is(third.phase, Phase.READY);
  t.is(transition(third, endpointConditions.programmed), t2.toISOString());
  t.is(transition(third, endpointConditions.ready), t2.toISOString());
  t.is(transition(third, endpointConditions.accepted), t0.toISOString());
  t.is(transition(third, endpointConditions.backendReady), t0.toISOString());
  t.is(first.conditions.length, 5, "the status given is not changed");
  t.is(condition(first, endpointConditions.programmed)?.status, ConditionStatus.UNKNOWN);
});

test("endpoint status: the conditions an endpoint has keep their order; the others are added after them", (t) => {
  const stored = create(EndpointStatusSchema, {
    phase: Phase.CREATING,
    conditions: [
      create(ConditionSchema, {
        type: "Ready",
        status: ConditionStatus.FALSE,
        reason: "NotReady",
        lastTransition: timestampFromDate(t0),
      }),
      create(ConditionSchema, {
        type: "Accepted",
        status: ConditionStatus.TRUE,
        reason: "Accepted",
        lastTransition: timestampFromDate(t0),
      }),
    ],
  });
  const status = endpointStatus(endpoint(stored), [], applied, t1);
  t.deepEqual(
    status.conditions.map((c) => c.type),
    ["Ready", "Accepted", "ResolvedRefs", "BackendReady", "Programmed"],
  );
  t.is(transition(status, "Accepted"), t0.toISOString());
  t.is(transition(status, "Ready"), t1.toISOString(), "FALSE → TRUE moves it");
  t.is(status.phase, Phase.READY);
});

test("sameStatus: the same status computed later is the same (lastTransition aside)", (t) => {
  const rollout: Rollout = { state: "pending", proxies: ["p1"], pending: ["p1"] };
  const a = endpointStatus(endpoint(), [], rollout, t0);
  const b = endpointStatus(endpoint(), [], rollout, t1);
  t.not(transition(a, "Ready"), transition(b, "Ready"));
  t.true(sameStatus(a, b));
  t.true(sameStatus(b, a));
  t.true(sameStatus(a, endpointStatus(endpoint(a), [], rollout, t2)), "what the controller compares");
  t.false(sameStatus(undefined, a), "no status yet: write one");
});

test("sameStatus: any other difference counts", (t) => {
  const base = endpointStatus(
    endpoint(),
    [problem("FunctionNotReady", "starting")],
    { state: "pending", proxies: ["p1"], pending: ["p1"] },
    t0,
  );
  const changed = (what: string, edit: (s: Status) => void) => {
    const other = clone(EndpointStatusSchema, base);
    edit(other);
    t.false(sameStatus(base, other), what);
    t.false(sameStatus(other, base), `${what} (the other way)`);
  };
  changed("phase", (s) => {
    s.phase = Phase.READY;
  });
  changed("observedGeneration", (s) => {
    s.observedGeneration = 4n;
  });
  changed("a reason's words", (s) => {
    s.reason[0] = "something else";
  });
  changed("one more reason", (s) => {
    s.reason.push("and another thing");
  });
  changed("the reasons' order", (s) => {
    s.reason.reverse();
  });
  changed("one condition fewer", (s) => {
    s.conditions.pop();
  });
  changed("the conditions' order", (s) => {
    s.conditions.reverse();
  });
  const edit = (field: "type" | "status" | "reason" | "message", value: string | ConditionStatus) =>
    changed(`a condition's ${field}`, (s) => {
      const c = s.conditions[3];
      if (c) Object.assign(c, { [field]: value });
    });
  edit("type", "Served");
  edit("status", ConditionStatus.TRUE);
  edit("reason", "Applied");
  edit("message", "waiting for 1 proxy to apply it: p9");

  const moved = clone(EndpointStatusSchema, base);
  for (const c of moved.conditions) c.lastTransition = timestampFromDate(t2);
  t.true(sameStatus(base, moved), "only the transition times differ");
});
