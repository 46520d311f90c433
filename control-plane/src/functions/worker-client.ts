import { errors, Pool } from "undici";
import type { Instance } from "./driver.js";

/** What a worker's POST /invoke answers (runtimes/CONTRACT.md). */
export interface InvokeResult {
  output: unknown;
  error: { type: "InputError" | "FunctionError" | "SystemError"; message: string; stack?: string[] } | null;
  logs: { stdout: string[]; stderr: string[] };
  durationMs?: number;
}

/**
 * The call never got an answer: the worker went away or took too long.
 * `notSent`: the call never reached the worker (the connection was refused
 * or the instance had already ended), so it is safe to make it elsewhere.
 */
export class WorkerCallError extends Error {
  override readonly name = "WorkerCallError";
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions & { notSent?: boolean },
  ) {
    super(message, options);
    this.notSent = options?.notSent ?? false;
  }
  readonly notSent: boolean;
}

/**
 * Keep-alive connections to each instance, closed when it ends. undici's pool
 * costs the control plane about half the CPU per call of `node:http`'s client
 * (measured in bench/invoke), and the invoke path is the platform's hottest.
 */
const pools = new WeakMap<Instance, Pool>();

function poolOf(instance: Instance): Pool {
  let pool = pools.get(instance);
  if (!pool) {
    const created = new Pool(instance.url, {
      // Workers are on loopback: a connect that takes seconds will not succeed.
      connectTimeout: 2_000,
      keepAliveTimeout: 60_000,
      keepAliveMaxTimeout: 600_000,
    });
    pools.set(instance, created);
    void instance.exited.then(() => created.destroy().catch(() => {}));
    pool = created;
  }
  return pool;
}

/**
 * POSTs one call to an instance's /invoke and parses the answer. `timeoutMs`
 * is a backstop (the worker enforces the deadline itself): past it the call
 * fails as timed out.
 */
export async function callWorker(
  instance: Instance,
  body: unknown,
  timeoutMs: number,
): Promise<InvokeResult> {
  let statusCode: number;
  let text: string;
  try {
    const res = await poolOf(instance).request({
      path: "/invoke",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    statusCode = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
      throw new WorkerCallError(`the call did not finish within ${Math.round(timeoutMs / 1000)}s`, true);
    }
    if (notSent(err)) {
      throw new WorkerCallError(`the worker did not take the call (${(err as Error).message})`, false, {
        cause: err,
        notSent: true,
      });
    }
    const reason = err instanceof errors.SocketError ? "the connection closed" : (err as Error).message;
    throw new WorkerCallError(`the worker stopped during the call (${reason})`, false, { cause: err });
  }
  if (statusCode !== 200) {
    throw new WorkerCallError(`the worker answered HTTP ${statusCode}: ${text.slice(0, 200)}`, false);
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch (err) {
    throw new WorkerCallError("the worker's answer is not JSON", false, { cause: err });
  }
  if (!isInvokeResult(answer)) {
    throw new WorkerCallError(
      `the worker's answer does not follow the contract (runtimes/CONTRACT.md): ${text.slice(0, 200)}`,
      false,
    );
  }
  return answer;
}

/** Errors that mean the request never reached a worker. */
function notSent(err: unknown): boolean {
  return (
    err instanceof errors.ConnectTimeoutError ||
    err instanceof errors.ClientDestroyedError ||
    err instanceof errors.ClientClosedError ||
    (err as NodeJS.ErrnoException).code === "ECONNREFUSED"
  );
}

function isInvokeResult(value: unknown): value is InvokeResult {
  if (typeof value !== "object" || value === null) return false;
  const { error, logs } = value as Partial<InvokeResult>;
  const lines = (v: unknown) => Array.isArray(v) && v.every((line) => typeof line === "string");
  return (
    "output" in value &&
    (error === null ||
      (typeof error === "object" && typeof error?.type === "string" && typeof error.message === "string")) &&
    typeof logs === "object" &&
    logs !== null &&
    lines(logs.stdout) &&
    lines(logs.stderr)
  );
}
