import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";

/** What the first line a NATS server sends (INFO) says about it. */
export interface NatsInfo {
  version: string;
  jetstream: boolean;
}

/** Reads the INFO line of the NATS server at `url`, or undefined when nothing answers in time. */
export async function probeNats(url: string, timeoutMs = 1500): Promise<NatsInfo | undefined> {
  const { hostname, port } = new URL(url);
  return await new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 4222) });
    let buffer = "";
    const done = (info: NatsInfo | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(info);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on("error", () => done(undefined));
    socket.on("data", (chunk) => {
      buffer += chunk.toString();
      const line = buffer.split("\r\n")[0];
      if (line === undefined || !buffer.includes("\r\n")) return;
      if (!line.startsWith("INFO ")) return done(undefined);
      try {
        const info = JSON.parse(line.slice(5)) as { version?: string; jetstream?: boolean };
        done({ version: info.version ?? "unknown", jetstream: info.jetstream === true });
      } catch {
        done(undefined);
      }
    });
  });
}

/** A NATS server that `dispatch up` started itself and stops on exit. */
export interface EmbeddedNats {
  url: string;
  stop(): Promise<void>;
}

/** Whether `nats-server` can be run. */
export async function hasNatsServer(bin: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const child = spawn(bin, ["--version"], { stdio: "ignore" });
    child.once("error", () => resolve(false));
    child.once("exit", (code) => resolve(code === 0));
  });
}

/**
 * Starts nats-server with JetStream, listening on the host and port of `url`,
 * storing into `<dataDir>/nats`, logging to `<dataDir>/nats-server.log`, and
 * resolves once the server says it is ready.
 */
export async function startEmbeddedNats(bin: string, url: string, dataDir: string): Promise<EmbeddedNats> {
  const { hostname, port } = new URL(url);
  const storeDir = join(dataDir, "nats");
  const logPath = join(dataDir, "nats-server.log");
  await mkdir(storeDir, { recursive: true, mode: 0o700 });
  const log = createWriteStream(logPath, { flags: "a" });
  // A process group of its own: Ctrl-C in the terminal must not stop NATS under
  // the control plane while it finishes calls; `dispatch up` stops it last.
  const child: ChildProcess = spawn(bin, ["-a", hostname, "-p", port || "4222", "-js", "-sd", storeDir], {
    stdio: ["ignore", "ignore", "pipe"],
    detached: true,
  });
  // Its own process group survives `dispatch up`: stop it even when up exits abruptly.
  const reap = () => child.kill("SIGTERM");
  process.on("exit", reap);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      seen += chunk.toString();
      if (seen.includes("Server is ready")) {
        child.stderr?.off("data", onData);
        child.stderr?.pipe(log);
        resolve();
      }
    };
    child.stderr?.on("data", onData);
    child.once("error", (err) => reject(new Error(`cannot run ${bin}: ${err.message}`)));
    void exited.then((code) =>
      reject(
        new Error(
          `nats-server exited (code ${code}) before it was ready; see ${logPath} (is port ${port || 4222} in use?)`,
        ),
      ),
    );
  });
  return {
    url,
    async stop() {
      process.off("exit", reap);
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}
