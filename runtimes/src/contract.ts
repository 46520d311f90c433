/**
 * The wire shapes of the worker contract (`CONTRACT.md`), shared by the Node
 * worker and by callers (the control plane's driver and invoker).
 */

/** The three kinds of failed call (DESIGN §4). */
export type CallErrorType = "InputError" | "FunctionError" | "SystemError";

/** Why a call failed: `error` in an invoke response, or the `Dispatch-Error` header. */
export interface CallError {
  type: CallErrorType;
  message: string;
  /** Stack lines; empty when there is no stack (a deadline, a bad request). */
  stack: string[];
}

/** What a call wrote, split into lines: `logs` in an invoke response, or the `Dispatch-Logs` header. */
export interface CallLogs {
  stdout: string[];
  stderr: string[];
}

/** The context a caller passes to `POST /invoke`; every field is optional. */
export interface InvokeContext {
  secrets?: Record<string, string> | null;
  /** RFC 3339 time; the worker's `DISPATCH_TIMEOUT_MS` applies when absent. */
  deadline?: string | null;
  event?: Record<string, unknown> | null;
  http?: Record<string, unknown> | null;
  function?: string | null;
  runId?: string | null;
}

/** The body of `POST /invoke`. */
export interface InvokeRequest {
  payload?: unknown;
  context?: InvokeContext | null;
}

/** The body of a `200` answer to `POST /invoke`. */
export interface InvokeResponse {
  output: unknown;
  error: CallError | null;
  logs: CallLogs;
  durationMs: number;
}

/** The exit status of a worker whose handler failed to load (sysexits `EX_CONFIG`). */
export const LOAD_ERROR_EXIT_CODE = 78;

/**
 * Request header that carries the instance's credential (`DISPATCH_WORKER_TOKEN`): a worker
 * answers every request but `GET /healthz` only when it is there and right.
 */
export const WORKER_TOKEN_HEADER = "dispatch-worker-token";

/** Response header of `/http` and `/event` answers: base64 of the {@link CallLogs} JSON. */
export const LOGS_HEADER = "dispatch-logs";

/** Response header of failed `/http` and `/event` answers: base64 of the {@link CallError} JSON. */
export const ERROR_HEADER = "dispatch-error";

/** Request header of `/http` and `/event` calls: base64 of the merged secrets' JSON object (`context.secrets`). */
export const SECRETS_HEADER = "dispatch-secrets";

/** The most a {@link SECRETS_HEADER} may carry, in bytes (of base64): it must fit a worker's 64 KiB request head. */
export const MAX_SECRETS_HEADER_BYTES = 32 * 1024;

/** Request header of `/http` and `/event` calls: the run id (`context.runId`). */
export const RUN_ID_HEADER = "dispatch-run-id";

/**
 * The path of a worker's load report (`GET /stats`, with the instance's credential): what an
 * autoscaler needs when calls reach the worker without passing the control plane (the data
 * plane's warm path), as Knative's queue-proxy reports a pod's concurrency.
 */
export const STATS_PATH = "/stats";

/** The body of a `200` answer to `GET /stats` (CONTRACT.md "Load report"). */
export interface WorkerStats {
  /** Calls (`/invoke`, `/http/*`, `/event`) accepted and not yet answered, whoever sent them. */
  inFlight: number;
  /** Milliseconds since the worker last had a call in flight (since it listened, if it never had one); 0 while one is. */
  idleMs: number;
  /** Calls accepted since the worker started. */
  calls: number;
  /** True once the worker drains (SIGTERM, or the end of its lifeline). */
  draining: boolean;
}
