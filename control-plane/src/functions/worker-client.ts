import { Agent, request } from "node:http";
import type { Instance } from "./driver.js";

/** What a worker's POST /invoke answers (runtimes/CONTRACT.md). */
export interface InvokeResult {
  output: unknown;
  error: { type: "InputError" | "FunctionError" | "SystemError"; message: string; stack?: string[] } | null;
  logs: { stdout: string[]; stderr: string[] };
  durationMs?: number;
}

/**
 * How a call to a worker failed: it ran past the backstop (`timed-out`), it
 * never reached the worker (`not-sent`: the connection was refused or the
 * instance had already ended, so it is safe to make it elsewhere), or it
 * reached it and broke (`broken`).
 */
export type WorkerCallFailure = "timed-out" | "not-sent" | "broken";

/** The call never got a usable answer. */
export class WorkerCallError extends Error {
  override readonly name = "WorkerCallError";
  constructor(
    message: string,
    readonly failure: WorkerCallFailure,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
  get timedOut(): boolean {
    return this.failure === "timed-out";
  }
  get notSent(): boolean {
    return this.failure === "not-sent";
  }
}

/**
 * Keep-alive connections to workers, reused across calls. An idle connection
 * is closed after 30 s, before a worker would close it (Node's worker keeps
 * them 65 s): a call never goes out on a connection the worker is closing.
 * (undici's pool costs ~16 % less control-plane CPU per call, but loading it
 * costs ~15-20 MiB of memory for good: decision 0004.)
 */
const agent = new Agent({
  keepAlive: true,
  timeout: 30_000,
  maxSockets: Number.POSITIVE_INFINITY,
  maxFreeSockets: 256,
});

/** The largest answer to /invoke read (a run record keeps far less: see run-size.ts). */
const maxAnswerBytes = 64 * 1024 * 1024;

/** Where an instance listens, parsed once, and whether it has ended. */
interface Target {
  hostname: string;
  port: number;
  ended: boolean;
}

const targets = new WeakMap<Instance, Target>();

function targetOf(instance: Instance): Target {
  let target = targets.get(instance);
  if (!target) {
    const url = new URL(instance.url);
    const created: Target = { hostname: url.hostname, port: Number(url.port), ended: false };
    void instance.exited.then(() => {
      created.ended = true;
    });
    targets.set(instance, created);
    target = created;
  }
  return target;
}

/**
 * POSTs one call to an instance's /invoke and parses the answer. `timeoutMs`
 * is a backstop (the worker enforces the deadline itself): past it the call
 * fails as timed out.
 */
export function callWorker(instance: Instance, body: unknown, timeoutMs: number): Promise<InvokeResult> {
  const target = targetOf(instance);
  if (target.ended) {
    return Promise.reject(
      new WorkerCallError("the worker did not take the call (its process has ended)", "not-sent"),
    );
  }
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: target.hostname,
        port: target.port,
        path: "/invoke",
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": payload.length,
          "dispatch-worker-token": instance.token,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        res.on("data", (chunk: Buffer) => {
          received += chunk.length;
          // Output and logs past what any run record holds: not read into memory.
          if (received > maxAnswerBytes) {
            clearTimeout(timer);
            reject(
              new WorkerCallError(
                `the worker's answer (the call's output and logs) is more than ${maxAnswerBytes / (1024 * 1024)} MiB; print and return less`,
                "broken",
              ),
            );
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", (err) =>
          reject(
            new WorkerCallError(`the worker stopped during the call (${err.message})`, "broken", {
              cause: err,
            }),
          ),
        );
        res.on("end", () => {
          clearTimeout(timer);
          try {
            resolve(parseAnswer(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8")));
          } catch (err) {
            reject(err);
          }
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(
        new WorkerCallError(`the call did not finish within ${Math.round(timeoutMs / 1000)}s`, "timed-out"),
      );
    }, timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      if (err instanceof WorkerCallError) return reject(err);
      if (notSent(err)) {
        return reject(
          new WorkerCallError(`the worker did not take the call (${err.message})`, "not-sent", {
            cause: err,
          }),
        );
      }
      reject(
        new WorkerCallError(`the worker stopped during the call (${err.message})`, "broken", { cause: err }),
      );
    });
    req.end(payload);
  });
}

/** The worker's answer, checked against the contract. */
function parseAnswer(statusCode: number, text: string): InvokeResult {
  if (statusCode !== 200) {
    throw new WorkerCallError(`the worker answered HTTP ${statusCode}: ${text.slice(0, 200)}`, "broken");
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch (err) {
    throw new WorkerCallError("the worker's answer is not JSON", "broken", { cause: err });
  }
  if (!isInvokeResult(answer)) {
    throw new WorkerCallError(
      `the worker's answer does not follow the contract (runtimes/CONTRACT.md): ${text.slice(0, 200)}`,
      "broken",
    );
  }
  return answer;
}

/** Errors that mean the request never reached a worker. */
function notSent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ECONNREFUSED";
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

/** Whether a worker's readiness probe (`GET /healthz`) answers 200 within `timeoutMs`. */
export function probeWorker(baseUrl: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${baseUrl}/healthz`, { method: "GET", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once("error", () => resolve(false));
    req.once("timeout", () => req.destroy());
    req.end();
  });
}
