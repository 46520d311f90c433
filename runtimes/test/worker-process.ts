import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { type Agent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { ExecutionContext } from "ava";
import {
  type InvokeResponse,
  parseWorkerLine,
  type Runtime,
  type WorkerLine,
  workerCommand,
} from "../src/index.js";

/** The credential test workers get (`DISPATCH_WORKER_TOKEN`); {@link request} sends it unless told not to. */
export const workerToken = "test-worker-token-0123456789abcdef";

/** Writes `files` (relative path → content) into a new temp dir and returns it. */
export async function writeBundle(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-runtime-"));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
  return dir;
}

/** A worker process started for a test. */
export interface TestWorker {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the worker wrote so far, by line. */
  stdout: string[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs the worker (if still running) and waits for it. */
  stop(): Promise<void>;
}

/** Options for {@link launch}. */
export interface LaunchOptions {
  runtime: Runtime;
  dir: string;
  handler: string;
  env?: Record<string, string>;
  /** Give the worker a lifeline pipe as fd 3 (the test holds the other end as `child.stdio[3]`). */
  lifeline?: boolean;
}

// If the test process exits without stopping a worker, do not leave it running.
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * Spawns a worker the way the driver does (port 0: the worker picks a free one and its
 * ready line names it, so no other process can take it in between); does not wait for it.
 */
export async function launch(
  options: LaunchOptions,
): Promise<Omit<TestWorker, "url" | "port"> & { ready: Promise<WorkerLine> }> {
  const { command, args } = workerCommand(options.runtime);
  const child = spawn(command, args, {
    env: {
      ...process.env,
      DISPATCH_PORT: "0",
      DISPATCH_FUNCTION_DIR: options.dir,
      DISPATCH_HANDLER: options.handler,
      DISPATCH_FUNCTION: "test-fn",
      DISPATCH_WORKER_TOKEN: workerToken,
      ...(options.lifeline ? { DISPATCH_LIFELINE_FD: "3" } : {}),
      ...options.env,
    },
    stdio: options.lifeline ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  // "close", not "exit": lines written just before exit are read by then.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  const stdout: string[] = [];
  const stderr: string[] = [];
  const ready = new Promise<WorkerLine>((resolve, reject) => {
    collectLines(child.stdout, stdout, (line) => {
      const parsed = parseWorkerLine(line);
      if (parsed?.kind === "ready") resolve(parsed);
    });
    collectLines(child.stderr, stderr, () => {});
    void exited.then(({ code }) =>
      reject(new Error(`worker exited (${code}) before it was ready:\n${stderr.join("\n")}`)),
    );
  });
  ready.catch(() => {});
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  return { child, stdout, stderr, exited, stop, ready };
}

/** Starts a worker and waits for its ready line. */
export async function startWorker(options: LaunchOptions): Promise<TestWorker> {
  const worker = await launch(options);
  let port: number;
  try {
    ({ port } = (await worker.ready) as { port: number });
  } catch (error) {
    await worker.stop();
    throw error;
  }
  return { ...worker, port, url: `http://127.0.0.1:${port}` };
}

function collectLines(
  stream: NodeJS.ReadableStream | null,
  into: string[],
  onLine: (line: string) => void,
): void {
  let pending = "";
  stream?.setEncoding("utf8");
  stream?.on("data", (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      into.push(line);
      onLine(line);
      newline = pending.indexOf("\n");
    }
  });
}

/** A plain HTTP answer. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  json(): unknown;
  /** The request went down a connection an earlier request had used. */
  reusedSocket: boolean;
}

/**
 * One HTTP request, by default on a connection of its own that the request asks to close (no
 * pooling, so a draining worker is seen as it is); pass a keep-alive `agent` to pool as the
 * control plane does. It carries {@link workerToken} as the driver's calls do, another `token`,
 * or none (`token: null`).
 */
export function request(
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    agent?: Agent;
    token?: string | null;
  } = {},
): Promise<Answer> {
  const token = init.token === undefined ? workerToken : init.token;
  const headers = { ...(token === null ? {} : { "dispatch-worker-token": token }), ...init.headers };
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: init.method ?? "GET", headers, agent: init.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const text = body.toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text,
            json: () => JSON.parse(text),
            reusedSocket: req.reusedSocket,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(init.body);
  });
}

/**
 * Writes `text` as it is on a connection of its own and reads until the worker closes it; fails
 * when the worker still holds the connection open after `waitMs`.
 */
export function rawExchange(port: number, text: string, waitMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the connection was still open after ${waitMs} ms:\n${Buffer.concat(chunks)}`));
    }, waitMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
  });
}

/** `POST /invoke` with `{payload, context}`; expects a 200. */
export async function invoke(
  worker: TestWorker,
  payload: unknown,
  context: object = {},
): Promise<InvokeResponse> {
  const answer = await request(`${worker.url}/invoke`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ payload, context }),
  });
  if (answer.status !== 200) throw new Error(`invoke answered ${answer.status}: ${answer.text}`);
  return answer.json() as InvokeResponse;
}

/** Decodes a `Dispatch-Logs` / `Dispatch-Error` header. */
export function decodeHeader(value: string | string[] | undefined): unknown {
  return typeof value === "string" ? JSON.parse(Buffer.from(value, "base64").toString("utf8")) : undefined;
}

/** Retries `probe` (every 20 ms, at most `attempts` times: 90 s and more) until it gives something truthy, and returns that. */
export async function eventually<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  attempts = 4500,
): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`not so after ${attempts} tries`);
}

/**
 * Writes `files` as a bundle, starts a worker of `runtime` on it with
 * `handler`, runs `body`, and removes both when the test ends.
 */
export async function serveBundle(
  t: ExecutionContext,
  runtime: Runtime,
  files: Record<string, string>,
  handler: string,
  body: (worker: TestWorker) => Promise<void>,
): Promise<void> {
  const dir = await writeBundle(files);
  const worker = await startWorker({ runtime, dir, handler });
  t.teardown(async () => {
    await worker.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await body(worker);
}
