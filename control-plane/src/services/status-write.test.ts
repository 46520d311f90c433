import { create } from "@bufbuild/protobuf";
import { ConditionSchema, ConditionStatus, Phase, StatusSchema } from "@dispatch/proto";
import test from "ava";
import { Violations } from "../validation/violations.js";
import { checkStatus, stampTransitions, statusLimits } from "./status-write.js";

const at = (seconds: number) => ({ seconds: BigInt(seconds), nanos: 0 }) as never;
const condition = (type: string, status: ConditionStatus, lastTransition?: number) =>
  create(ConditionSchema, {
    type,
    status,
    reason: "Because",
    ...(lastTransition === undefined ? {} : { lastTransition: at(lastTransition) }),
  });

test("stampTransitions keeps the stored time while the status stays, sets now when it changes or is new", (t) => {
  const stored = [
    condition("Ready", ConditionStatus.UNKNOWN, 100),
    condition("Programmed", ConditionStatus.TRUE, 200),
    condition("Gone", ConditionStatus.TRUE, 300),
  ];
  const next = [
    condition("Ready", ConditionStatus.TRUE, 1),
    condition("Programmed", ConditionStatus.TRUE, 1),
    condition("Accepted", ConditionStatus.FALSE, 1),
  ];
  stampTransitions(next, stored, at(500));
  t.deepEqual(
    next.map((c) => [c.type, Number(c.lastTransition?.seconds)]),
    [
      ["Ready", 500],
      ["Programmed", 200],
      ["Accepted", 500],
    ],
  );
});

test("stampTransitions sets now for a stored condition that has no time", (t) => {
  const next = [condition("Ready", ConditionStatus.TRUE)];
  stampTransitions(next, [condition("Ready", ConditionStatus.TRUE)], at(42));
  t.is(Number(next[0]?.lastTransition?.seconds), 42);
});

test("checkStatus accepts a status per the conventions, observed_generation up to the generation", (t) => {
  const violations = new Violations();
  checkStatus(
    create(StatusSchema, {
      phase: Phase.READY,
      observedGeneration: 3n,
      conditions: [
        {
          type: "Ready",
          status: ConditionStatus.TRUE,
          reason: "InstanceReady",
          message: "any text: é, 100%",
        },
        { type: "Programmed", status: ConditionStatus.UNKNOWN, reason: "Pending" },
      ],
      reason: ["free text"],
    }),
    3n,
    violations,
  );
  t.deepEqual(violations.list, []);
});

test("checkStatus reports every problem with its field path", (t) => {
  const violations = new Violations();
  checkStatus(
    create(StatusSchema, {
      phase: 42 as Phase,
      observedGeneration: 4n,
      conditions: [
        { type: "ready", status: ConditionStatus.TRUE, reason: "Ok" },
        { type: "Ready", status: 9 as ConditionStatus, reason: "A".repeat(statusLimits.word + 1) },
        {
          type: "Ready",
          status: ConditionStatus.FALSE,
          reason: "Bad",
          message: "m".repeat(statusLimits.text + 1),
        },
      ],
      reason: Array.from({ length: statusLimits.reasons + 1 }, () => "r"),
    }),
    3n,
    violations,
  );
  t.deepEqual(
    violations.list.map((v) => v.field),
    [
      "status.phase",
      "status.observed_generation",
      "status.reason",
      "status.conditions[0].type",
      "status.conditions[1].status",
      "status.conditions[1].reason",
      "status.conditions[2].type",
      "status.conditions[2].message",
    ],
  );
  t.regex(violations.list[0]?.message ?? "", /^42 is not a phase: set one of PHASE_INITIALIZED, /);
  t.regex(violations.list[3]?.message ?? "", /"ready" is not CamelCase/);
  t.regex(violations.list[6]?.message ?? "", /"Ready" appears twice/);
});
