import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { type Condition, ConditionStatus, Phase } from "@dispatch/proto";
import type { ResourceStatus } from "../kinds/kind.js";
import type { Violations } from "../validation/violations.js";

/** Bounds on one status (it is stored in the object's KV record). */
export const statusLimits = {
  conditions: 32,
  /** Entries of `reason` (the plain-language list). */
  reasons: 32,
  /** Characters of a condition's message or one `reason` entry. */
  text: 32_768,
  /** Characters of a condition's type or reason. */
  word: 128,
} as const;

/** A condition's type and reason: one CamelCase word, as Kubernetes writes them ("Ready", "InstanceReady"). */
const camelCase = /^[A-Z][A-Za-z0-9]*$/;

/**
 * Adds every problem with a status a client asks to store, following the
 * Kubernetes API conventions for status and conditions:
 * - `phase` is set (one of the phases);
 * - `observed_generation` is not above the object's `generation` (a status
 *   cannot describe a spec that does not exist yet);
 * - each condition has a CamelCase `type`, unique in the status, a `status`
 *   of TRUE, FALSE or UNKNOWN and a CamelCase `reason`; `message` is free text.
 *
 * Conditions' `last_transition` is not checked: the server sets it
 * ({@link stampTransitions}).
 */
export function checkStatus(status: ResourceStatus, generation: bigint, violations: Violations): void {
  if (status.phase === Phase.UNSPECIFIED || Phase[status.phase] === undefined) {
    violations.add("status.phase", `${phaseText(status.phase)}: set one of ${phaseNames()}`);
  }
  if (status.observedGeneration > generation) {
    violations.add(
      "status.observed_generation",
      `is ${status.observedGeneration}, above the object's generation ${generation}: a status describes a generation that exists (read the object again)`,
    );
  }
  if (status.reason.length > statusLimits.reasons) {
    violations.add(
      "status.reason",
      `has ${status.reason.length} entries; the limit is ${statusLimits.reasons}`,
    );
  }
  for (const [i, text] of status.reason.entries()) {
    if (text.length > statusLimits.text) {
      violations.add(
        `status.reason[${i}]`,
        `is ${text.length} characters; the limit is ${statusLimits.text}`,
      );
    }
  }
  if (status.conditions.length > statusLimits.conditions) {
    violations.add(
      "status.conditions",
      `has ${status.conditions.length} conditions; the limit is ${statusLimits.conditions}`,
    );
  }
  const seen = new Set<string>();
  for (const [i, condition] of status.conditions.entries()) {
    const field = `status.conditions[${i}]`;
    checkWord(violations, `${field}.type`, condition.type, "Ready");
    if (condition.type !== "" && seen.has(condition.type)) {
      violations.add(
        `${field}.type`,
        `"${condition.type}" appears twice: each condition type appears once in a status`,
      );
    }
    seen.add(condition.type);
    if (
      condition.status !== ConditionStatus.TRUE &&
      condition.status !== ConditionStatus.FALSE &&
      condition.status !== ConditionStatus.UNKNOWN
    ) {
      violations.add(`${field}.status`, "must be TRUE, FALSE or UNKNOWN");
    }
    checkWord(violations, `${field}.reason`, condition.reason, "MinimumInstancesAvailable");
    if (condition.message.length > statusLimits.text) {
      violations.add(
        `${field}.message`,
        `is ${condition.message.length} characters; the limit is ${statusLimits.text}`,
      );
    }
  }
}

/**
 * Sets each condition's `last_transition` (Kubernetes: "the last time the
 * condition transitioned from one status to another"): kept from the stored
 * condition of the same type while its status stays the same; `now` when the
 * status changed or the condition is new. What the client sent is ignored.
 */
export function stampTransitions(
  next: readonly Condition[],
  current: readonly Condition[],
  now: Timestamp,
): void {
  for (const condition of next) {
    const before = current.find((c) => c.type === condition.type);
    condition.lastTransition =
      before?.lastTransition && before.status === condition.status ? before.lastTransition : now;
  }
}

function checkWord(violations: Violations, field: string, word: string, example: string): void {
  if (word === "") {
    violations.add(field, `is required: one CamelCase word (e.g. "${example}")`);
  } else if (word.length > statusLimits.word) {
    violations.add(field, `is ${word.length} characters; the limit is ${statusLimits.word}`);
  } else if (!camelCase.test(word)) {
    violations.add(
      field,
      `"${word}" is not CamelCase: one word of letters and digits starting with a capital (e.g. "${example}")`,
    );
  }
}

function phaseText(phase: Phase): string {
  return phase === Phase.UNSPECIFIED ? "is required" : `${phase} is not a phase`;
}

function phaseNames(): string {
  return Object.keys(Phase)
    .filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED")
    .map((k) => `PHASE_${k}`)
    .join(", ");
}
