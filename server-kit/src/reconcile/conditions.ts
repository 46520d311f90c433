import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Condition, ConditionSchema, ConditionStatus } from "@dispatch/proto";

/** The condition of this type, if the list has one. */
export function findCondition(conditions: readonly Condition[], type: string): Condition | undefined {
  return conditions.find((c) => c.type === type);
}

/**
 * The conditions with the one of `type` set to `status`, `reason` (a CamelCase
 * word a program can switch on) and `message` (a sentence for people). As the
 * Kubernetes API conventions have it, `lastTransition` moves to `now` only when
 * the status changes (or the condition is new); a new reason or message alone
 * keeps it. The other conditions and the order are kept; a new type goes last.
 * Returns a new list; the one given is not changed.
 */
export function setCondition(
  conditions: readonly Condition[],
  type: string,
  status: ConditionStatus,
  reason: string,
  message: string,
  now: Date,
): Condition[] {
  const before = findCondition(conditions, type);
  const next = create(ConditionSchema, {
    type,
    status,
    reason,
    message,
    lastTransition:
      before?.status === status && before.lastTransition ? before.lastTransition : timestampFromDate(now),
  });
  return before ? conditions.map((c) => (c === before ? next : c)) : [...conditions, next];
}

/** {@link setCondition} with status TRUE: the aspect holds ("Ready": it answers). */
export function markTrue(
  conditions: readonly Condition[],
  type: string,
  reason: string,
  message: string,
  now: Date,
): Condition[] {
  return setCondition(conditions, type, ConditionStatus.TRUE, reason, message, now);
}

/** {@link setCondition} with status FALSE: the aspect does not hold, and `message` says why. */
export function markFalse(
  conditions: readonly Condition[],
  type: string,
  reason: string,
  message: string,
  now: Date,
): Condition[] {
  return setCondition(conditions, type, ConditionStatus.FALSE, reason, message, now);
}

/** {@link setCondition} with status UNKNOWN: not known yet (starting, waiting). */
export function markUnknown(
  conditions: readonly Condition[],
  type: string,
  reason: string,
  message: string,
  now: Date,
): Condition[] {
  return setCondition(conditions, type, ConditionStatus.UNKNOWN, reason, message, now);
}
