import { clone } from "@bufbuild/protobuf";
import { type Function as FunctionResource, FunctionSchema, Phase } from "@dispatch/proto";
import { markFalse, markTrue, markUnknown, updateWithRetries } from "@dispatch/server-kit";
import { NotFoundError, RevisionConflictError } from "../store/errors.js";
import type { ResourceStore } from "../store/resource-store.js";
import type { FunctionState } from "./function-registry.js";

/** What the scheduler observes of a function, as its status reports it. */
export interface FunctionStatusReport {
  /** The function this describes: a function re-created under the name is another one. */
  uid: string;
  name: string;
  phase: Phase;
  reason: string[];
  observedGeneration: bigint;
  readyInstances: number;
  endpoints: string[];
}

/** The status of the function as the scheduler sees it now. */
export function statusReportOf(state: FunctionState): FunctionStatusReport {
  return {
    uid: state.object.meta?.uid ?? "",
    name: state.name,
    phase: state.phase,
    reason: [...state.reason, ...quotaNote(state)],
    observedGeneration: state.observed,
    readyInstances: state.serving?.size ?? 0,
    endpoints: state.serving?.endpoints ?? [],
  };
}

/** Why instances of the function wait for the org's instance quota, if they do. */
function quotaNote(state: FunctionState): string[] {
  for (const pool of [state.serving, state.starting]) if (pool?.waitingForQuota) return [pool.quotaMessage()];
  return [];
}

/**
 * Writes the report into the stored function's status when it differs from
 * what is stored, with its Ready condition (reason InstanceReady, StartFailed
 * or Starting): a compare-and-set, retried when an update raced it. The
 * report is asked for after each read, so that what is written is what the
 * scheduler sees then, not what it saw when the write was asked for (a pool
 * tells of a new instance, then at once of a restart). Nothing is written for
 * a function that was deleted or re-created under the name, or when `report`
 * returns undefined.
 */
export async function writeFunctionStatus(
  store: ResourceStore<FunctionResource>,
  key: string,
  report: () => FunctionStatusReport | undefined,
  now: () => Date = () => new Date(),
): Promise<void> {
  try {
    await updateWithRetries({
      read: () => store.get(key),
      next: (current) => {
        const wanted = report();
        return wanted && withStatus(current, wanted, now());
      },
      write: async (object, revision) => {
        await store.update(key, object, revision, `function "${object.meta?.name ?? ""}"`);
      },
      isConflict: (err) => err instanceof RevisionConflictError,
    });
  } catch (err) {
    // Deleted between the read and the write: nothing to report on.
    if (!(err instanceof NotFoundError)) throw err;
  }
}

/** The function with the report as its status, or undefined when there is nothing to change. */
function withStatus(
  current: FunctionResource,
  report: FunctionStatusReport,
  now: Date,
): FunctionResource | undefined {
  if (current.meta?.uid !== report.uid || !current.status) return undefined;
  const status = current.status;
  if (
    status.phase === report.phase &&
    status.observedGeneration === report.observedGeneration &&
    status.readyInstances === report.readyInstances &&
    status.reason.join("\n") === report.reason.join("\n") &&
    status.endpoints.join(",") === report.endpoints.join(",")
  ) {
    return undefined;
  }
  const next = clone(FunctionSchema, current);
  const nextStatus = next.status as NonNullable<FunctionResource["status"]>;
  nextStatus.phase = report.phase;
  nextStatus.reason = [...report.reason];
  nextStatus.observedGeneration = report.observedGeneration;
  nextStatus.readyInstances = report.readyInstances;
  nextStatus.endpoints = [...report.endpoints];
  const message = report.reason.join("; ");
  nextStatus.conditions =
    report.phase === Phase.READY
      ? markTrue(status.conditions, "Ready", "InstanceReady", message, now)
      : report.phase === Phase.ERROR
        ? markFalse(status.conditions, "Ready", "StartFailed", message, now)
        : markUnknown(status.conditions, "Ready", "Starting", message, now);
  return next;
}
