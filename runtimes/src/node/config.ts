import { resolve } from "node:path";

/** The worker's settings, from its `DISPATCH_*` environment (CONTRACT.md "Start"). */
export interface WorkerConfig {
  host: string;
  /** 0 picks a free port; the ready line says which. */
  port: number;
  /** Absolute path of the unpacked bundle. */
  functionDir: string;
  /** `file.js` or `file.js:name`, relative to {@link functionDir}. */
  handler: string;
  functionName: string;
  /** Deadline of a call that brings none; 0 means none. */
  timeoutMs: number;
  drainMs: number;
  /** A descriptor whose end of file means the driver that started the worker has gone. */
  lifelineFd: number | undefined;
  /** The credential every request but `GET /healthz` must carry (`DISPATCH_WORKER_TOKEN`). */
  workerToken: string;
}

/**
 * A handler that cannot be loaded, or settings that cannot be used: the
 * worker reports it on a `DISPATCH_LOAD_ERROR` line and exits 78.
 */
export class LoadError extends Error {
  override name = "LoadError";
  constructor(
    message: string,
    readonly lines: string[] = [],
  ) {
    super(message);
  }
}

/** Reads and checks the worker's environment; throws {@link LoadError}. */
export function readConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const handler = env.DISPATCH_HANDLER?.trim();
  if (!handler) throw new LoadError("DISPATCH_HANDLER is not set (use file.js or file.js:name)");
  const workerToken = env.DISPATCH_WORKER_TOKEN ?? "";
  if (workerToken.length < 16) {
    throw new LoadError(
      "DISPATCH_WORKER_TOKEN is not set (or shorter than 16 characters): a worker takes calls only with the credential its driver gives it",
    );
  }
  return {
    host: env.DISPATCH_HOST || "127.0.0.1",
    port: integer(env, "DISPATCH_PORT", undefined, 65535),
    functionDir: resolve(env.DISPATCH_FUNCTION_DIR || "."),
    handler,
    functionName: env.DISPATCH_FUNCTION ?? "",
    timeoutMs: integer(env, "DISPATCH_TIMEOUT_MS", 30_000),
    drainMs: integer(env, "DISPATCH_DRAIN_MS", 30_000),
    lifelineFd: env.DISPATCH_LIFELINE_FD ? integer(env, "DISPATCH_LIFELINE_FD", undefined, 1024) : undefined,
    workerToken,
  };
}

function integer(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback?: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const text = env[name]?.trim();
  if (!text) {
    if (fallback === undefined) throw new LoadError(`${name} is not set`);
    return fallback;
  }
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new LoadError(`${name} must be a whole number from 0 to ${max}, not "${text}"`);
  }
  return value;
}
