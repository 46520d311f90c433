import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";
import { parseWorkerLine, workerCommand } from "@dispatch/runtimes";
import {
  type Driver,
  type Instance,
  type InstanceExit,
  LoadError,
  type RevisionSpec,
  type WorkerLogLine,
} from "./driver.js";
import { probeWorker } from "./worker-client.js";

/** Options for {@link createLocalDriver}. */
export interface LocalDriverOptions {
  /** Receives every line workers write outside and inside calls. */
  onLog?(line: WorkerLogLine): void;
  /** How long a worker may take to become ready; default 30 s. */
  startTimeoutMs?: number;
  /** Workers starting at the same time, at most; default 8. Many functions created at once queue here. */
  maxConcurrentStarts?: number;
}

/** The environment a worker inherits from the control plane: nothing secret. */
const inherited = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SYSTEMROOT"];

/**
 * The local driver: each instance is a worker process on a loopback port,
 * chosen by the worker itself (port 0) and reported in its ready line, so
 * instances never race for ports.
 */
export function createLocalDriver(options: LocalDriverOptions = {}): Driver {
  const live = new Set<ChildProcess>();
  let counter = 0;
  const reap = () => {
    for (const child of live) child.kill("SIGKILL");
  };
  process.once("exit", reap);

  // Starting a worker is CPU-bound: a thousand functions created at once must
  // not fork a thousand processes at once.
  const limit = options.maxConcurrentStarts ?? 8;
  let active = 0;
  const queue: Array<() => void> = [];
  const slot = async () => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve));
    active++;
  };
  const done = () => {
    active--;
    queue.shift()?.();
  };

  return {
    name: "local",
    async start(revision) {
      await slot();
      try {
        return await startWorker(revision);
      } finally {
        done();
      }
    },
    async close() {
      await Promise.all(
        [...live].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve();
              child.once("exit", () => resolve());
              child.kill("SIGTERM");
              setTimeout(() => child.kill("SIGKILL"), 5000).unref();
            }),
        ),
      );
      process.off("exit", reap);
    },
  };

  async function startWorker(revision: RevisionSpec): Promise<Instance> {
    const id = `${revision.name}-${revision.generation}-${++counter}`;
    const { command, args } = workerCommand(revision.runtime as "nodejs" | "python3");
    const env: Record<string, string> = {};
    for (const name of inherited) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, revision.env, {
      DISPATCH_HOST: "127.0.0.1",
      DISPATCH_PORT: "0",
      DISPATCH_FUNCTION_DIR: revision.directory,
      DISPATCH_HANDLER: revision.handler,
      DISPATCH_FUNCTION: revision.name,
      DISPATCH_TIMEOUT_MS: String(revision.timeoutMs),
      // fd 3 is a pipe this process holds: if the control plane dies, even by
      // SIGKILL, the pipe ends and the worker drains and exits instead of lingering.
      DISPATCH_LIFELINE_FD: "3",
    });
    // A process group of its own: a terminal's Ctrl-C reaches `dispatch up`, which
    // drains its workers (calls in flight finish); it must not kill them first.
    const child = spawn(command, args, {
      env,
      cwd: revision.directory,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      detached: true,
    });
    // Nothing is ever written to the lifeline; a worker that is gone must not raise EPIPE here.
    (child.stdio[3] as Writable | null)?.on("error", () => {});
    live.add(child);
    let stopping = false;
    const exited = new Promise<InstanceExit>((resolve) => {
      child.once("exit", (code, signal) => {
        live.delete(child);
        // Lines written just before exit may still be in the pipes: let them
        // be read (a load error's report must reach status), but do not wait
        // for a grandchild that holds the pipes open.
        const settle = () => resolve({ code, signal, stopped: stopping });
        const timer = setTimeout(settle, 500);
        timer.unref();
        child.once("close", () => {
          clearTimeout(timer);
          settle();
        });
      });
      // A spawn that fails (no such binary) emits "error" and never "exit".
      child.once("error", () => {
        live.delete(child);
        resolve({ code: null, signal: null, stopped: stopping });
      });
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
      recent.push(raw);
      if (recent.length > 20) recent.shift();
      const tagged = /^\[([0-9a-f-]{36})\] (.*)$/.exec(raw);
      options.onLog?.({
        org: revision.org,
        function: revision.name,
        instance: id,
        stream,
        text: tagged ? (tagged[2] ?? "") : raw,
        runId: tagged ? (tagged[1] ?? "") : "",
      });
    };
    if (child.stdout) createInterface({ input: child.stdout }).on("line", (l) => log("stdout", l));
    if (child.stderr) createInterface({ input: child.stderr }).on("line", (l) => log("stderr", l));

    const stop = async (drainMs = 30_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), drainMs + 2000);
      await exited;
      clearTimeout(timer);
    };

    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const port = await new Promise<number>((resolve, reject) => {
      onReady = resolve;
      const timer = setTimeout(() => {
        reject(new LoadError(`the worker did not become ready within ${timeoutMs / 1000}s`));
        void stop(0);
      }, timeoutMs);
      child.once("error", (err) =>
        reject(new LoadError(`cannot start the ${revision.runtime} worker: ${err.message}`)),
      );
      void exited.then((exit) => {
        clearTimeout(timer);
        const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
        reject(new LoadError(loadError ?? `the worker stopped before it was ready (${how})${tail(recent)}`));
      });
      onReady = (p) => {
        clearTimeout(timer);
        resolve(p);
      };
    });
    const url = `http://127.0.0.1:${port}`;
    // The readiness probe: the worker said it listens; confirm it answers.
    if (!(await probeWorker(url, 2000))) {
      await stop(0);
      throw new LoadError("the worker listened but its readiness probe (GET /healthz) failed");
    }
    const instance: Instance = { id, url, exited, stop };
    return instance;
  }
}

function tail(lines: readonly string[]): string {
  return lines.length === 0 ? "" : `:\n${lines.slice(-5).join("\n")}`;
}
