import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type NatsServer, startNats } from "@dispatch/testkit";

/** `dispatch up` running as its own process, as a user runs it. */
export interface DispatchProcess {
  url: string;
  /** The event broker's URL. */
  events: string;
  token: string;
  pid: number;
  nats: NatsServer;
  /** The process's resident memory, from /proc. */
  rssMiB(): Promise<number>;
  stop(): Promise<void>;
}

const bin = fileURLToPath(new URL("../../../cli/bin/dispatch.js", import.meta.url));

/**
 * The node flags of a process a bench starts (`dispatch up`, a proxy):
 * BENCH_NODE_FLAGS="--flag …" as given, and with BENCH_PROFILE=DIR a CPU
 * profile written there.
 */
export function benchNodeFlags(): string[] {
  const profile = process.env.BENCH_PROFILE;
  return [
    ...(process.env.BENCH_NODE_FLAGS?.split(" ").filter(Boolean) ?? []),
    ...(profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : []),
  ];
}

/** Starts `dispatch up` on a free port with a temp data dir and its own nats-server. */
export async function startDispatchProcess(): Promise<DispatchProcess> {
  const nats = await startNats();
  const dir = await mkdtemp(join(tmpdir(), "dispatch-bench-up-"));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...benchNodeFlags(),
      ...(process.env.BENCH_HEAP
        ? ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${process.env.BENCH_HEAP}`]
        : []),
      bin,
      "up",
      "--data-dir",
      join(dir, "data"),
      "--port",
      "0",
      "--nats-url",
      nats.urlWithCredentials,
    ],
    {
      env: {
        ...process.env,
        DISPATCH_CONFIG: join(dir, "config.json"),
        DISPATCH_GATEWAY_PORT: "0",
        DISPATCH_GATEWAY_TLS_PORT: "0",
        DISPATCH_EVENTS_PORT: "0",
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const [url, events] = await new Promise<[string, string]>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const api = /api\s+(http:\/\/\S+)/.exec(out)?.[1];
      const broker = /events\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (api && broker && out.includes("Dispatch is up.")) resolve([api, broker]);
    });
    child.once("exit", (code) => reject(new Error(`dispatch up exited (${code})`)));
  });
  const token = (await readFile(join(dir, "data", "admin.token"), "utf8")).trim();
  const pid = child.pid ?? 0;
  return {
    url,
    events,
    token,
    pid,
    nats,
    async rssMiB() {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb / 1024;
    },
    async stop() {
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      });
      await nats.stop();
    },
  };
}
