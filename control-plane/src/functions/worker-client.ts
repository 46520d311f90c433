import {
  Agent,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  request,
  type ServerResponse,
} from "node:http";
import type { Readable } from "node:stream";
import {
  ERROR_HEADER,
  type InvokeRequest,
  type InvokeResponse,
  LOGS_HEADER,
  STATS_PATH,
  WORKER_TOKEN_HEADER,
  type WorkerStats,
} from "@dispatch/runtimes";
import type { InstanceEndpoint } from "@dispatch/server-kit";
import type { Instance } from "./instance.js";

/**
 * How a call to a worker failed: it ran past the backstop (`timed-out`), it
 * never reached the worker (`not-sent`: the connection was refused or the
 * instance had already ended, so it is safe to make it elsewhere), it
 * reached it and broke (`broken`), or the caller of a pass-through went away
 * before the answer was through (`abandoned`: nothing is wrong with the worker).
 */
export type WorkerCallFailure = "timed-out" | "not-sent" | "broken" | "abandoned";

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

/** The largest answer to /invoke or /event read (a run record keeps far less: see run-size.ts). */
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

/** A worker's whole answer to a request whose answer is read into memory (`/invoke`, `/event`). */
export interface WorkerAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Sends one request to a worker (with the instance's credential) and reads
 * its whole answer. `timeoutMs` is a backstop (the worker enforces the
 * deadline itself): past it the call fails as timed out.
 */
export function sendToWorker(
  instance: Instance,
  path: string,
  headers: OutgoingHttpHeaders,
  body: Buffer,
  timeoutMs: number,
): Promise<WorkerAnswer> {
  const target = targetOf(instance);
  if (target.ended) return Promise.reject(endedError());
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: target.hostname,
        port: target.port,
        path,
        method: "POST",
        agent,
        headers: { ...headers, "content-length": body.length, [WORKER_TOKEN_HEADER]: instance.token },
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
        res.on("error", (err) => reject(brokenError(err)));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(timeoutError(timeoutMs)), timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(requestError(err));
    });
    req.end(body);
  });
}

/**
 * POSTs one call to an instance's `/invoke` and parses the answer
 * (runtimes/CONTRACT.md). `timeoutMs` is a backstop, as for {@link sendToWorker}.
 */
export async function callWorker(
  instance: Instance,
  body: InvokeRequest,
  timeoutMs: number,
): Promise<InvokeResponse> {
  const payload = Buffer.from(JSON.stringify(body));
  const answer = await sendToWorker(
    instance,
    "/invoke",
    { "content-type": "application/json" },
    payload,
    timeoutMs,
  );
  return parseInvokeAnswer(answer.status, answer.body.toString("utf8"));
}

/** An HTTP request passed through to a worker's `/http/*`, and where its answer goes. */
export interface PassThrough {
  method: string;
  /** The path below `/http`, with the query: `/echo?x=1`. */
  target: string;
  /** The caller's headers (what reaches `context.http.headers`, less the contract's own). */
  headers: IncomingHttpHeaders;
  /** The request body, read only once the worker took the connection. */
  body: Readable;
  /** Where the worker's answer is streamed, its head first. */
  response: ServerResponse;
}

/** The head of the worker's answer to a pass-through, as it came (with `Dispatch-Logs`/`Dispatch-Error`). */
export interface PassThroughHead {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
}

/** Headers of a worker's answer that are the platform's, not the caller's. */
const recordHeaders = new Set([LOGS_HEADER, ERROR_HEADER]);

/**
 * Passes an HTTP request through to a worker's `/http<target>` and streams
 * the answer to `call.response`, both bodies as they come. Resolves with the
 * answer's head once the whole answer has been passed on. The request body
 * is read only once a connection to the worker is open, so a call that fails
 * as `not-sent` can be made again elsewhere. `timeoutMs` bounds silence on
 * the worker's connection. Fails with `abandoned` when the caller's
 * connection closes first (the request to the worker is then cut off), and
 * with `broken` when the answer breaks off; either way a response already
 * started is destroyed, the only honest signal left.
 */
export function passThrough(
  instance: Instance,
  call: PassThrough,
  headers: OutgoingHttpHeaders,
  timeoutMs: number,
): Promise<PassThroughHead> {
  const target = targetOf(instance);
  if (target.ended) return Promise.reject(endedError());
  const { response } = call;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err: WorkerCallError | undefined, head?: PassThroughHead) => {
      if (settled) return;
      settled = true;
      response.off("close", onClose);
      if (err) {
        upstream.destroy();
        if (response.headersSent && !response.writableEnded) response.destroy();
        reject(err);
      } else if (head) resolve(head);
    };
    const onClose = () => {
      if (!response.writableFinished) {
        settle(new WorkerCallError("the client went away before the answer was complete", "abandoned"));
      }
    };
    const upstream = request(
      {
        hostname: target.hostname,
        port: target.port,
        path: `/http${call.target}`,
        method: call.method,
        agent,
        headers: { ...call.headers, ...headers, [WORKER_TOKEN_HEADER]: instance.token },
      },
      (answer) => {
        const head: PassThroughHead = {
          status: answer.statusCode ?? 502,
          statusText: answer.statusMessage ?? "",
          headers: answer.headers,
        };
        const passed: IncomingHttpHeaders = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (!recordHeaders.has(name)) passed[name] = value;
        }
        response.writeHead(head.status, passed);
        answer.pipe(response);
        answer.on("error", (err) =>
          settle(
            new WorkerCallError(`the worker's answer broke off: ${err.message}`, "broken", { cause: err }),
          ),
        );
        response.once("finish", () => settle(undefined, head));
      },
    );
    upstream.setTimeout(timeoutMs, () => upstream.destroy(timeoutError(timeoutMs)));
    upstream.on("error", (err) => {
      const failure = requestError(err);
      settle(
        failure.failure === "broken"
          ? new WorkerCallError(`the worker did not answer: ${err.message}`, "broken", { cause: err })
          : failure,
      );
    });
    response.once("close", onClose);
    // The body waits until the worker took the connection: a refused one leaves it unread.
    upstream.once("socket", (socket) => {
      if (socket.connecting) socket.once("connect", () => call.body.pipe(upstream));
      else call.body.pipe(upstream);
    });
  });
}

/** The worker's answer to `/invoke`, checked against the contract. */
function parseInvokeAnswer(statusCode: number, text: string): InvokeResponse {
  if (statusCode !== 200) {
    throw new WorkerCallError(`the worker answered HTTP ${statusCode}: ${text.slice(0, 200)}`, "broken");
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch (err) {
    throw new WorkerCallError("the worker's answer is not JSON", "broken", { cause: err });
  }
  if (!isInvokeResponse(answer)) {
    throw new WorkerCallError(
      `the worker's answer does not follow the contract (runtimes/CONTRACT.md): ${text.slice(0, 200)}`,
      "broken",
    );
  }
  return answer;
}

function endedError(): WorkerCallError {
  return new WorkerCallError("the worker did not take the call (its process has ended)", "not-sent");
}

function timeoutError(timeoutMs: number): WorkerCallError {
  return new WorkerCallError(`the call did not finish within ${Math.round(timeoutMs / 1000)}s`, "timed-out");
}

function brokenError(err: Error): WorkerCallError {
  return new WorkerCallError(`the worker stopped during the call (${err.message})`, "broken", { cause: err });
}

/** A request's error: ours (a timeout), one that means it never reached the worker, or a break. */
function requestError(err: Error): WorkerCallError {
  if (err instanceof WorkerCallError) return err;
  // ECONNREFUSED: the request never reached a worker.
  if ((err as NodeJS.ErrnoException).code === "ECONNREFUSED") {
    return new WorkerCallError(`the worker did not take the call (${err.message})`, "not-sent", {
      cause: err,
    });
  }
  return brokenError(err);
}

const isLines = (v: unknown) => Array.isArray(v) && v.every((line) => typeof line === "string");

function isInvokeResponse(value: unknown): value is InvokeResponse {
  if (typeof value !== "object" || value === null) return false;
  const { error, logs, durationMs } = value as Partial<InvokeResponse>;
  return (
    "output" in value &&
    (error === null ||
      (typeof error === "object" &&
        typeof error?.type === "string" &&
        typeof error.message === "string" &&
        isLines(error.stack))) &&
    typeof logs === "object" &&
    logs !== null &&
    isLines(logs.stdout) &&
    isLines(logs.stderr) &&
    typeof durationMs === "number"
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

/**
 * A worker's load report (`GET /stats`, runtimes/CONTRACT.md), or why there is
 * none: it refused the connection or broke it (`gone`: its process is
 * ending), did not answer within the time (`timeout`: it may be busy), or
 * answered something else than the contract's report (`invalid`).
 */
export type StatsAnswer =
  | { ok: true; stats: WorkerStats }
  | { ok: false; failure: "gone" | "timeout" | "invalid" };

/** The most calls in flight a report may claim; a larger number is not a report. */
const maxReportedInFlight = 1_000_000;

/**
 * Reads a worker's load report with the instance's credential. What the
 * worker says is untrusted: a body that is not the contract's shape, or
 * numbers out of range, is `invalid`. It can only move its own function
 * between `min` and `max` (and within its org's quota).
 */
export function fetchWorkerStats(instance: InstanceEndpoint, timeoutMs: number): Promise<StatsAnswer> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(instance.url);
    } catch {
      resolve({ ok: false, failure: "invalid" });
      return;
    }
    const req = request(
      {
        hostname: url.hostname,
        port: Number(url.port),
        path: STATS_PATH,
        method: "GET",
        agent,
        headers: { [WORKER_TOKEN_HEADER]: instance.token },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
          if (text.length > 4096) req.destroy();
        });
        res.on("error", () => resolve({ ok: false, failure: "gone" }));
        res.on("end", () => {
          clearTimeout(timer);
          const stats = res.statusCode === 200 ? parseStats(text) : undefined;
          resolve(stats ? { ok: true, stats } : { ok: false, failure: "invalid" });
        });
      },
    );
    const timer = setTimeout(() => {
      resolve({ ok: false, failure: "timeout" });
      req.destroy();
    }, timeoutMs);
    req.on("error", () => {
      clearTimeout(timer);
      resolve({ ok: false, failure: "gone" });
    });
    req.end();
  });
}

function parseStats(text: string): WorkerStats | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { inFlight, idleMs, calls, draining } = value as Partial<WorkerStats>;
  const count = (n: unknown, max: number) =>
    typeof n === "number" && Number.isSafeInteger(n) && n >= 0 && n <= max;
  if (!count(inFlight, maxReportedInFlight) || !count(calls, Number.MAX_SAFE_INTEGER)) return undefined;
  if (typeof idleMs !== "number" || !Number.isFinite(idleMs) || idleMs < 0) return undefined;
  return {
    inFlight: inFlight as number,
    idleMs,
    calls: calls as number,
    draining: draining === true,
  };
}
