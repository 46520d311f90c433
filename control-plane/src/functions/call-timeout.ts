import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Function as FunctionResource } from "@dispatch/proto";

/**
 * How long one call of `fn` may take, in milliseconds: its `spec.timeout`,
 * else the installation's default (`FunctionDefaults.timeoutMs`, 30 s unless
 * `dispatch up` says otherwise). The one place this is decided: the invoker's
 * deadline for every wire form and the worker's `DISPATCH_TIMEOUT_MS` both come
 * from here.
 */
export function callTimeoutMs(fn: FunctionResource, defaultMs: number): number {
  const timeout = fn.spec?.timeout;
  return timeout ? durationMs(timeout) : defaultMs;
}
