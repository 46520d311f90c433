/**
 * Function workers for Node.js and Python 3, and what the control plane's
 * driver needs to run them: the command that starts a worker, the default
 * handler of an entry file, and the lines a worker writes about itself.
 * The contract every worker serves is `CONTRACT.md` in this package.
 */

export {
  type CallError,
  type CallErrorType,
  type CallLogs,
  ERROR_HEADER,
  type InvokeContext,
  type InvokeRequest,
  type InvokeResponse,
  LOAD_ERROR_EXIT_CODE,
  LOGS_HEADER,
  MAX_SECRETS_HEADER_BYTES,
  RUN_ID_HEADER,
  SECRETS_HEADER,
  STATS_PATH,
  WORKER_TOKEN_HEADER,
  type WorkerStats,
} from "./contract.js";
export { decodeHeaderValue, EVENT_HEADER_PREFIX, encodeHeaderValue } from "./event-headers.js";
export {
  defaultHandler,
  type Runtime,
  runtimeForFile,
  runtimesDir,
  type WorkerCommand,
  workerCommand,
} from "./worker-command.js";
export { parseWorkerLine, type WorkerLine } from "./worker-line.js";
