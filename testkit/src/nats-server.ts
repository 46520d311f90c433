import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { natsServerBinary } from "@dispatch/control-plane";

/** A nats-server with JetStream started for a test. */
export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** Kills the server the hard way (SIGKILL), as a crash would. The store dir stays. */
  kill(): Promise<void>;
  /** Starts it again on the same port and store dir (after {@link kill} or {@link stop}). */
  restart(): Promise<void>;
  /** Stops the server and removes its store dir. */
  stop(): Promise<void>;
}

/** Options for {@link startNats}. */
export interface StartNatsOptions {
  /** The nats-server binary; default {@link natsServerBinary} ($NATS_SERVER_BIN, PATH, sbin). */
  bin?: string;
  /** Reuse this store dir instead of a new temp dir. */
  storeDir?: string;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts nats-server with JetStream on a free port and a temp store dir, and
 * waits until it accepts connections. Isolated from any NATS on the machine.
 *
 * @example
 * const nats = await startNats();
 * try { ... nats.url ... } finally { await nats.stop(); }
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const bin = options.bin ?? natsServerBinary();
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "dispatch-nats-")));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const launch = async () => {
    const proc = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child = proc;
    // If the test process exits without stopping the server, do not leave it running.
    const reap = () => proc.kill("SIGKILL");
    process.once("exit", reap);
    proc.once("exit", () => process.off("exit", reap));
    let stderr = "";
    proc.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`nats-server exited (${code}) before it was ready:\n${stderr}`));
      proc.once("error", (err) =>
        reject(new Error(`cannot start ${bin}: ${err.message}. Install it (apt-get install nats-server)`)),
      );
      proc.once("exit", onExit);
      const check = () => {
        if (stderr.includes("Server is ready")) {
          proc.off("exit", onExit);
          proc.stderr?.removeAllListeners("data");
          proc.stderr?.resume();
          resolve();
        }
      };
      proc.stderr?.on("data", check);
    });
  };

  const terminate = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill(signal);
    });
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    kill: () => terminate("SIGKILL"),
    restart: async () => {
      await terminate("SIGTERM");
      await launch();
    },
    async stop() {
      await terminate("SIGTERM");
      if (!options.storeDir) await rm(storeDir, { recursive: true, force: true });
    },
  };
}
