import { Code, ConnectError } from "@connectrpc/connect";
import type { DispatchClients } from "@dispatch/client";
import { type CloudEvent, ErrorType, type Run } from "@dispatch/proto";

/** How one delivery attempt ended. */
export type Outcome =
  | { ok: true; run: Run; reply: CloudEvent | undefined }
  | { ok: false; retriable: boolean; error: string };

/** One delivery attempt: the event to the function, through the invoker. */
export type Deliver = (request: {
  org: string;
  subscription: string;
  function: string;
  event: CloudEvent;
  timeoutMs: number | undefined;
  signal: AbortSignal;
}) => Promise<Outcome>;

/** Answers of the API that no retry can change. */
const permanentCodes = new Set([Code.InvalidArgument, Code.OutOfRange, Code.Unimplemented]);

/**
 * Delivers through `RunService.Create` with `run.spec.event` (the component
 * token's right): the invoker finds an instance (starting one if needed),
 * calls the worker's `/event`, records the Run (trigger EVENT) and answers
 * with it. A handler's error, a timeout, no instance, the function gone:
 * retriable. An input error (the event does not fit the function's schema)
 * and an event the API refuses: not.
 */
export function createDeliver(runs: DispatchClients["runs"]): Deliver {
  return async ({ org, subscription, function: fn, event, timeoutMs, signal }) => {
    let run: Run | undefined;
    try {
      const response = await runs.create(
        { run: { meta: { org }, spec: { function: fn, event, subscription } } },
        { signal, ...(timeoutMs === undefined ? {} : { timeoutMs }) },
      );
      run = response.run;
    } catch (err) {
      const e = ConnectError.from(err);
      return { ok: false, retriable: !permanentCodes.has(e.code), error: `${Code[e.code]}: ${e.rawMessage}` };
    }
    const error = run?.status?.error;
    if (!run || (error && error.type !== ErrorType.UNSPECIFIED)) {
      const type = error ? ErrorType[error.type] : "SYSTEM_ERROR";
      return {
        ok: false,
        retriable: error?.type !== ErrorType.INPUT_ERROR,
        error: `${typeName(type)}: ${error?.message ?? "no run came back"}${run?.meta?.name ? ` (run ${run.meta.name})` : ""}`,
      };
    }
    return { ok: true, run, reply: run.status?.reply };
  };
}

/** INPUT_ERROR → InputError, as runs show it. */
function typeName(type: string): string {
  return type
    .toLowerCase()
    .split("_")
    .map((w) => (w[0]?.toUpperCase() ?? "") + w.slice(1))
    .join("");
}
