import { create } from "@bufbuild/protobuf";
import {
  type Condition,
  ConditionStatus,
  type Endpoint,
  type EndpointStatus,
  EndpointStatusSchema,
  Phase,
} from "@dispatch/proto";
import { markFalse, markTrue, markUnknown } from "@dispatch/server-kit";
import type { EndpointProblem, ProblemReason } from "../translate/snapshot.js";
import type { Rollout } from "./rollout-tracker.js";

/** The condition types of an endpoint's status, as Gateway API routes have them. */
export const endpointConditions = {
  /** The spec can be served: valid, no conflict, within Envoy's rules. */
  accepted: "Accepted",
  /** What it refers to exists: its functions, its token secret. */
  resolvedRefs: "ResolvedRefs",
  /** Its functions are ready to take calls (else calls get a 503 with a JSON error). */
  backendReady: "BackendReady",
  /** Every connected data plane applied the configuration that carries it. */
  programmed: "Programmed",
  /** All of the above: calls through the gateway reach the function. */
  ready: "Ready",
} as const;

const notAccepted: readonly ProblemReason[] = ["InvalidSpec", "RouteConflict", "RejectedByValidation"];
const unresolved: readonly ProblemReason[] = ["FunctionNotFound", "TokenSecretProblem"];

/**
 * An endpoint's status from what the xds-server knows of it: the problems of
 * its translation and how far its configuration has reached the data planes.
 * READY only when it is accepted, refers to what exists, its functions are
 * ready and every connected proxy applied it; ERROR when it cannot be served
 * as written (or a proxy refused it); CREATING while it waits (for its
 * function, for the proxies). `reason` lists, in plain words, each thing that
 * keeps it from READY.
 */
export function endpointStatus(
  endpoint: Endpoint,
  problems: readonly EndpointProblem[],
  rollout: Rollout | undefined,
  now: Date,
  urls: readonly string[] = [],
): EndpointStatus {
  let conditions: Condition[] = endpoint.status?.conditions.slice() ?? [];
  const reasons: string[] = [];
  // The condition says the first problem of its kind; `reason` lists every one.
  const set = (type: string, found: readonly EndpointProblem[], okReason: string, okMessage: string) => {
    const [problem] = found;
    if (problem) {
      conditions = markFalse(conditions, type, problem.reason, problem.message, now);
      for (const p of found) reasons.push(p.message);
    } else {
      conditions = markTrue(conditions, type, okReason, okMessage, now);
    }
  };
  const find = (reasons: readonly ProblemReason[]) => problems.filter((p) => reasons.includes(p.reason));
  const notServable = find(notAccepted);
  const rejected = notServable[0];
  const unresolvedRefs = find(unresolved);
  set(endpointConditions.accepted, notServable, "Accepted", "the endpoint's routes are valid and its own");
  set(
    endpointConditions.resolvedRefs,
    unresolvedRefs,
    "ResolvedRefs",
    "its functions (and token secret) exist",
  );
  set(
    endpointConditions.backendReady,
    find(["FunctionNotReady"]),
    "BackendReady",
    "its functions are ready to take calls",
  );

  let programmed: ConditionStatus;
  if (rejected || !rollout) {
    const message = rejected
      ? "not served: it is left out of the configuration until it is fixed"
      : "not served yet: the xds-server has not translated it";
    conditions = markFalse(conditions, endpointConditions.programmed, "NotServed", message, now);
    // When it is rejected, its problems above already say why.
    if (!rejected) reasons.push(message);
    programmed = ConditionStatus.FALSE;
  } else {
    switch (rollout.state) {
      case "applied":
        conditions = markTrue(
          conditions,
          endpointConditions.programmed,
          "Applied",
          `applied by ${plural(rollout.proxies.length, "proxy", "proxies")}: ${rollout.proxies.join(", ")}`,
          now,
        );
        programmed = ConditionStatus.TRUE;
        break;
      case "pending": {
        const message = `waiting for ${plural(rollout.pending.length, "proxy", "proxies")} to apply it: ${rollout.pending.join(", ")}`;
        conditions = markUnknown(conditions, endpointConditions.programmed, "Pending", message, now);
        reasons.push(message);
        programmed = ConditionStatus.UNKNOWN;
        break;
      }
      case "no-data-plane": {
        const message =
          "no gateway or Envoy is connected to the xds-server, so nothing serves it; start one (dispatch up starts the gateway)";
        conditions = markUnknown(conditions, endpointConditions.programmed, "NoDataPlane", message, now);
        reasons.push(message);
        programmed = ConditionStatus.UNKNOWN;
        break;
      }
      case "rejected": {
        const message = `proxy "${rollout.proxy}" refused the configuration that carries it (it keeps serving its previous one): ${rollout.message}`;
        conditions = markFalse(conditions, endpointConditions.programmed, "RejectedByProxy", message, now);
        reasons.push(message);
        programmed = ConditionStatus.FALSE;
        break;
      }
    }
  }

  const failed = conditions.some(
    (c) => c.type !== endpointConditions.ready && c.status === ConditionStatus.FALSE,
  );
  const ready = !failed && programmed === ConditionStatus.TRUE;
  conditions = ready
    ? markTrue(
        conditions,
        endpointConditions.ready,
        "Ready",
        "calls through the gateway reach its functions",
        now,
      )
    : markFalse(conditions, endpointConditions.ready, "NotReady", reasons[0] ?? "not ready", now);

  const error =
    rejected !== undefined || unresolvedRefs.length > 0 || (rollout?.state === "rejected" && !rejected);
  return create(EndpointStatusSchema, {
    phase: ready ? Phase.READY : error ? Phase.ERROR : Phase.CREATING,
    conditions,
    reason: reasons,
    observedGeneration: endpoint.meta?.generation ?? 0n,
    urls: [...urls],
  });
}

/**
 * Whether two statuses say the same (conditions' `last_transition` aside,
 * which the server keeps): a status equal to the stored one is not written.
 */
export function sameStatus(a: EndpointStatus | undefined, b: EndpointStatus): boolean {
  if (!a) return false;
  if (a.urls.length !== b.urls.length || a.urls.some((u, i) => u !== b.urls[i])) return false;
  if (a.phase !== b.phase || a.observedGeneration !== b.observedGeneration) return false;
  if (a.reason.length !== b.reason.length || a.reason.some((r, i) => r !== b.reason[i])) return false;
  if (a.conditions.length !== b.conditions.length) return false;
  return a.conditions.every((c, i) => {
    const d = b.conditions[i];
    return (
      d && c.type === d.type && c.status === d.status && c.reason === d.reason && c.message === d.message
    );
  });
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
