import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import type { Writable } from "node:stream";
import { formatBytes } from "@dispatch/proto";
import { parseWorkerLine, type Runtime } from "@dispatch/runtimes";
import {
  describeExit,
  type InstanceExit,
  LoadError,
  type RevisionSpec,
  type WorkerLogLine,
} from "@dispatch/server-kit";
import type { Isolation } from "./isolation/isolation.js";
import { memoryLimitBytes } from "./isolation/memory-limit.js";
import { readLines } from "./line-reader.js";
import { waitUntilReady } from "./readiness.js";
import type { LaunchedInstance } from "./replica-set.js";

/** What {@link WorkerProcesses.start} needs for one instance. */
export interface WorkerProcessInput {
  id: string;
  revision: RevisionSpec;
  /** The unpacked bundle on this machine. */
  directory: string;
  /** The instance's credential (`DISPATCH_WORKER_TOKEN`). */
  token: string;
  /** Aborts the start: what was spawned is killed and the start rejects. */
  signal: AbortSignal;
}

/** Options for {@link WorkerProcesses}. */
export interface WorkerProcessesOptions {
  /** How workers are isolated (`openIsolation`). */
  isolation: Isolation;
  /** Receives every line workers write outside and inside calls. */
  onLog?(line: WorkerLogLine): void;
  /** How long a worker may take to become ready (its ready line, then its probe); default 30 s. */
  startTimeoutMs?: number;
}

/** What V8 writes when a heap reaches its limit (`--max-old-space-size`), just before it aborts. */
const heapExhausted = /JavaScript heap out of memory/;

/**
 * Worker processes on this machine: each instance is a worker on a loopback
 * port, chosen by the worker itself (port 0) and reported in its ready line,
 * so instances never race for ports. Each runs in the isolation given (a
 * bubblewrap sandbox, or a plain process) and, where cgroups can be used, in
 * a cgroup of its own that bounds its memory and processes and takes every
 * process of the instance with it when it stops. If this process exits,
 * every worker it started is killed.
 */
export class WorkerProcesses {
  private readonly live = new Map<ChildProcess, () => Promise<void>>();
  private readonly cleanups = new Set<Promise<void>>();
  private readonly reap = () => {
    for (const child of this.live.keys()) killGroup(child);
  };

  constructor(private readonly options: WorkerProcessesOptions) {
    process.once("exit", this.reap);
  }

  /** Stops every worker (a short drain), waits until each is cleaned up. */
  async close(): Promise<void> {
    await Promise.all([...this.live.values()].map((stop) => stop()));
    await Promise.all(this.cleanups);
    process.off("exit", this.reap);
  }

  /**
   * Spawns the worker and resolves once it passed its readiness probe;
   * rejects with {@link LoadError} when it does not load or become ready.
   */
  async start(input: WorkerProcessInput): Promise<LaunchedInstance> {
    const { id, revision, token, signal } = input;
    const { isolation } = this.options;
    const runtime = revision.runtime as Runtime;
    let memoryBytes: number;
    try {
      memoryBytes = memoryLimitBytes(revision.memory);
    } catch (err) {
      throw new LoadError(`spec.resources.memory: ${(err as Error).message}`);
    }
    const launch = await isolation
      .launch({
        org: revision.org,
        runtime,
        bundleDir: input.directory,
        env: {
          ...revision.env,
          DISPATCH_HOST: "127.0.0.1",
          DISPATCH_PORT: "0",
          DISPATCH_HANDLER: revision.handler,
          DISPATCH_FUNCTION: revision.name,
          DISPATCH_TIMEOUT_MS: String(revision.timeoutMs),
          DISPATCH_WORKER_TOKEN: token,
          DISPATCH_MEMORY_LIMIT: String(memoryBytes),
          // fd 3 is a pipe this process holds: if the control plane dies, even by
          // SIGKILL, the pipe ends and the worker drains and exits instead of lingering.
          DISPATCH_LIFELINE_FD: "3",
        },
        memoryBytes,
      })
      .catch((err: Error) => {
        throw new LoadError(`cannot prepare the worker's sandbox: ${err.message}`, { cause: err });
      });
    if (signal.aborted) {
      await launch.cleanup().catch(() => undefined);
      throw new LoadError("the instance was not needed any more before it started");
    }
    const startedAt = Date.now();
    // A process group of its own: a terminal's Ctrl-C reaches `dispatch up`, which
    // drains its workers (calls in flight finish); it must not kill them first.
    const child = spawn(launch.command, launch.args, {
      env: launch.env,
      cwd: launch.cwd,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      detached: true,
    });
    const lifeline = child.stdio[3] as Writable | null;
    // Nothing is ever written to the lifeline; a worker that is gone must not raise EPIPE here.
    lifeline?.on("error", () => {});

    let stopping = false;
    let outOfHeap = false;
    const killAll = () => {
      killGroup(child);
      void launch.cgroup?.killAll();
    };
    const exited = new Promise<InstanceExit>((resolve) => {
      let finished = false;
      const finish = (code: number | null, exitSignal: NodeJS.Signals | null) => {
        if (finished) return;
        finished = true;
        this.live.delete(child);
        const cleanup = (async () => {
          // What the instance left (a function's detached children) goes with it; the
          // cgroup says whether the kernel killed for memory before it is removed.
          killGroup(child);
          const outOfMemory = (await launch.cgroup?.outOfMemory()) || outOfHeap;
          resolve({
            ...exitStatus(code, exitSignal, launch.signalsAsExitCodes),
            stopped: stopping,
            ...(outOfMemory ? { reason: `out of memory (limit ${formatBytes(memoryBytes)})` } : {}),
          });
          await launch.cleanup().catch(() => undefined);
        })();
        this.cleanups.add(cleanup);
        void cleanup.finally(() => this.cleanups.delete(cleanup));
      };
      child.once("exit", (code, exitSignal) => {
        // Lines written just before exit may still be in the pipes: let them
        // be read (a load error's report must reach status, V8's out-of-heap
        // line must be seen), but do not wait for a grandchild that holds the
        // pipes open.
        const settle = () => finish(code, exitSignal);
        const timer = setTimeout(settle, 500);
        timer.unref();
        child.once("close", () => {
          clearTimeout(timer);
          settle();
        });
      });
      // A spawn that fails (no such binary) emits "error" and never "exit".
      child.once("error", () => finish(null, null));
    });

    let loadError: string | undefined;
    const recent: string[] = [];
    let onReady: ((port: number) => void) | undefined;
    const log = (stream: "stdout" | "stderr", raw: string) => {
      const parsed = parseWorkerLine(raw);
      if (parsed?.kind === "ready") return onReady?.(parsed.port);
      if (parsed?.kind === "load-error") {
        loadError = parsed.message;
        return;
      }
      if (stream === "stderr" && heapExhausted.test(raw)) outOfHeap = true;
      recent.push(raw);
      if (recent.length > 20) recent.shift();
      const tagged = /^\[([0-9a-f-]{36})\] (.*)$/.exec(raw);
      this.options.onLog?.({
        org: revision.org,
        function: revision.name,
        instance: id,
        stream,
        text: tagged ? (tagged[2] ?? "") : raw,
        runId: tagged ? (tagged[1] ?? "") : "",
      });
    };
    if (child.stdout) readLines(child.stdout, (l) => log("stdout", l));
    if (child.stderr) readLines(child.stderr, (l) => log("stderr", l));

    let ended = false;
    void exited.then(() => {
      ended = true;
    });
    const stop = async (drainMs = 30_000) => {
      if (ended) return;
      stopping = true;
      // The end of its lifeline is the worker's cue to drain (CONTRACT.md): it reaches
      // the worker inside a sandbox too, where a signal would reach only bwrap.
      lifeline?.destroy();
      const timer = setTimeout(killAll, drainMs + 2000);
      await exited;
      clearTimeout(timer);
    };
    this.live.set(child, () => stop(3000));

    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    const deadline = startedAt + timeoutMs;
    const notReady = (message: string) => {
      stopping = true;
      killAll();
      return new LoadError(message);
    };
    const unwanted = "the instance was not needed any more before it was ready";
    // Settles when the start is given up: the worker ended, or the driver no longer wants it.
    const givenUp = Promise.race([
      exited,
      new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true })),
    ]);
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(notReady(`the worker did not become ready within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      const onAbort = () => {
        clearTimeout(timer);
        reject(notReady(unwanted));
      };
      if (signal.aborted) onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      child.once("error", (err) =>
        reject(new LoadError(`cannot start the ${revision.runtime} worker: ${err.message}`)),
      );
      void exited.then((exit) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        reject(
          new LoadError(
            loadError ?? `the worker stopped before it was ready (${describeExit(exit)})${tail(recent)}`,
          ),
        );
      });
      onReady = (p) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve(p);
      };
    }).catch(async (err: unknown) => {
      // Whatever gave up the start, the instance is gone before the start fails.
      await exited;
      throw err;
    });
    const url = `http://127.0.0.1:${port}`;
    // The readiness probe: the worker said it listens; confirm it answers, retrying until the deadline.
    if (!(await waitUntilReady(url, deadline, givenUp))) {
      const error = notReady(
        signal.aborted
          ? unwanted
          : ended
            ? "the worker stopped before its readiness probe (GET /healthz) answered"
            : `the worker listened but its readiness probe (GET /healthz) did not answer 200 within ${timeoutMs / 1000}s`,
      );
      await exited;
      throw error;
    }
    return { id, url, token, exited, stop };
  }
}

/**
 * How the worker ended. Inside bwrap the worker is a grandchild, and bwrap
 * reports a worker killed by signal N as exit code 128+N (as shells do).
 */
function exitStatus(
  code: number | null,
  signal: NodeJS.Signals | null,
  signalsAsExitCodes: boolean,
): { code: number | null; signal: NodeJS.Signals | null } {
  if (signalsAsExitCodes && code !== null && code > 128) {
    const name = (Object.keys(constants.signals) as NodeJS.Signals[]).find(
      (s) => constants.signals[s] === code - 128,
    );
    if (name) return { code: null, signal: name };
  }
  return { code, signal };
}

/** Kills the instance's process group (the worker, or bwrap and with it the sandbox). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Gone already.
  }
}

function tail(lines: readonly string[]): string {
  return lines.length === 0 ? "" : `:\n${lines.slice(-5).join("\n")}`;
}
