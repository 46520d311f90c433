import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ConditionSchema, ConditionStatus } from "@dispatch/proto";
import test from "ava";
import { findCondition, markFalse, markTrue, markUnknown } from "./conditions.js";

const t0 = new Date("2026-01-01T00:00:00Z");
const t1 = new Date("2026-01-01T00:01:00Z");
const t2 = new Date("2026-01-01T00:02:00Z");
const transition = (c: ReturnType<typeof findCondition>) =>
  c?.lastTransition ? timestampDate(c.lastTransition).toISOString() : undefined;

test("conditions: lastTransition moves only when the status changes, not with a new reason or message", (t) => {
  let conditions = markUnknown([], "Ready", "Starting", "starting an instance", t0);
  t.is(transition(findCondition(conditions, "Ready")), t0.toISOString());
  conditions = markUnknown(conditions, "Ready", "WaitingForQuota", "the org is at its quota", t1);
  const waiting = findCondition(conditions, "Ready");
  t.is(waiting?.reason, "WaitingForQuota");
  t.is(waiting?.message, "the org is at its quota");
  t.is(transition(waiting), t0.toISOString(), "same status: the transition time stays");
  conditions = markTrue(conditions, "Ready", "InstanceReady", "", t2);
  t.is(findCondition(conditions, "Ready")?.status, ConditionStatus.TRUE);
  t.is(transition(findCondition(conditions, "Ready")), t2.toISOString());
  conditions = markFalse(conditions, "Ready", "StartFailed", "handler did not load", t2);
  t.is(findCondition(conditions, "Ready")?.status, ConditionStatus.FALSE);
});

test("conditions: other conditions and their order are kept, a new type goes last, and the list given is not changed", (t) => {
  const programmed = create(ConditionSchema, {
    type: "Programmed",
    status: ConditionStatus.TRUE,
    reason: "Acked",
  });
  const ready = create(ConditionSchema, { type: "Ready", status: ConditionStatus.FALSE, reason: "Starting" });
  const before = [ready, programmed];
  const after = markTrue(before, "Ready", "InstanceReady", "", t0);
  t.deepEqual(
    after.map((c) => c.type),
    ["Ready", "Programmed"],
  );
  t.is(after[1], programmed);
  t.is(before[0]?.status, ConditionStatus.FALSE, "the input is untouched");
  t.deepEqual(
    markFalse(after, "Accepted", "Invalid", "no such function", t0).map((c) => c.type),
    ["Ready", "Programmed", "Accepted"],
  );
});
