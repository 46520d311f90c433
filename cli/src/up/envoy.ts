import { type ChildProcess, spawn } from "node:child_process";
import { access, constants, mkdir, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { buildEnvoyBootstrap } from "../install/envoy-bootstrap.js";
import { UpError } from "./up-error.js";

/** The node id Envoy has at the xds-server under `dispatch up --gateway envoy`. */
export const envoyNodeId = "dispatch-up-envoy";

/** How to get Envoy, for the error when there is none. */
export const installEnvoyHint =
  "install Envoy (https://www.envoyproxy.io/docs/envoy/latest/start/install: the Debian/Ubuntu packages, " +
  "Homebrew, or func-e from func-e.io) so that `envoy` is on the PATH, or name the binary with " +
  "--envoy-bin; without --gateway envoy, dispatch up serves endpoints with its embedded gateway";

/** Finds `envoy` (or the binary named) on the PATH; undefined when there is none. */
export async function findEnvoy(
  bin: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const candidates = bin.includes("/")
    ? [bin]
    : (env.PATH ?? "").split(delimiter).map((dir) => join(dir, bin));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A running Envoy. */
export interface UpEnvoy {
  /** Envoy's admin interface: a Unix socket in the data dir (curl --unix-socket). */
  adminSocket: string;
  bootstrapPath: string;
  /** Resolves with its exit code when Envoy exits (on its own, or stopped). */
  exited: Promise<number | null>;
  /** Stops Envoy (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
}

/**
 * Starts Envoy as `dispatch up`'s data plane: a bootstrap in the data dir
 * (Delta ADS to the xds-server on loopback, with the node token; admin on a
 * free loopback port), its output in the log. Resolves once it is spawned;
 * its listener (the gateway's port) comes over xDS, so the caller waits for
 * Envoy's first ACK of it.
 *
 * @throws UpError when there is no Envoy binary, saying how to get one
 */
export async function startEnvoy(options: {
  bin: string;
  dataDir: string;
  xdsPort: number;
  nodeToken: string;
  log(line: string): void;
}): Promise<UpEnvoy> {
  const binary = await findEnvoy(options.bin);
  if (!binary) throw new UpError(`there is no "${options.bin}" binary on the PATH: ${installEnvoyHint}`);
  const dir = join(options.dataDir, "envoy");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const bootstrapPath = join(dir, "bootstrap.json");
  // A Unix socket in the data dir (0700), not a loopback port: workers share the loopback,
  // and the admin's config dump holds the credential the routes carry.
  const adminPipe = join(dir, "admin.sock");
  const bootstrap = buildEnvoyBootstrap({
    nodeId: envoyNodeId,
    xds: { host: "127.0.0.1", port: options.xdsPort, resolve: "STATIC" },
    nodeToken: options.nodeToken,
    admin: { pipe: adminPipe },
  });
  // It holds the node token: readable by this user only.
  await writeFile(bootstrapPath, `${JSON.stringify(bootstrap, null, 2)}\n`, { mode: 0o600 });
  const child: ChildProcess = spawn(
    binary,
    ["--config-path", bootstrapPath, "--use-dynamic-base-id", "--log-level", "warn"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", (err) => {
      options.log(`envoy: ${err.message}`);
      resolve(-1);
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      for (const line of chunk.split("\n")) if (line.trim() !== "") options.log(`envoy: ${line}`);
    });
  }
  options.log(`envoy: ${binary} runs with ${bootstrapPath} (admin on the socket ${adminPipe})`);
  return {
    adminSocket: adminPipe,
    bootstrapPath,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
