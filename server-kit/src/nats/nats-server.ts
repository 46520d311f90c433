import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readSync, watch } from "node:fs";
import { chmod, mkdir, open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { natsServerBinary } from "./nats-binary.js";

/** A user and password that a nats-server requires of every client. */
export interface NatsUserPassword {
  user: string;
  password: string;
}

/** Options for {@link startNatsServer}. */
export interface NatsServerOptions {
  /**
   * The server's directory (created mode 0700): the JetStream store, and the
   * config (`nats-server.conf`, mode 0600), log and pid files it runs with.
   */
  dir: string;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port to listen on; default a free one, picked by the server and read back from its log. */
  port?: number;
  /** Clients must log in with this user and password; without it anyone who reaches the port may connect. */
  authorization?: NatsUserPassword;
  /** Serve TLS only, with this certificate; with `caFile`, clients must show a certificate it signed. */
  tls?: { certFile: string; keyFile: string; caFile?: string };
  /** The nats-server binary; default {@link natsServerBinary}. */
  bin?: string;
  /**
   * Runs the server in a process group of its own (a terminal's Ctrl-C does not
   * reach it) that outlives this process if it is killed. Default false. Either
   * way a normal exit of this process stops the server.
   */
  detached?: boolean;
}

/** A nats-server process started by {@link startNatsServer} or found by {@link attachNatsServer}. */
export interface NatsServerProcess {
  /** nats://host:port, without credentials. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The process id of the server running now. */
  readonly pid: number;
  readonly dir: string;
  /** Where the server logs (`<dir>/nats-server.log`). */
  readonly logFile: string;
  /** Resolves when the server running now exits. */
  readonly exited: Promise<void>;
  /** Stops the server (SIGTERM; SIGKILL if it is still running after 10 s). The store stays. */
  stop(): Promise<void>;
  /** Kills the server the hard way (SIGKILL), as a crash would. The store stays. */
  kill(): Promise<void>;
  /** Starts it again, stopping it first if it runs: the same port, store and credentials. */
  restart(): Promise<void>;
}

/** nats-server could not be started; the message says why and where its log is. */
export class NatsServerError extends Error {
  override readonly name = "NatsServerError";
}

/** The files a server directory holds. */
function filesOf(dir: string) {
  return {
    config: join(dir, "nats-server.conf"),
    log: join(dir, "nats-server.log"),
    pid: join(dir, "nats-server.pid"),
  };
}

/**
 * Starts nats-server with JetStream from a config file it writes into
 * `options.dir` (listen address, store dir, authorization), and resolves once
 * the server logs "Server is ready". The one launcher of the project: `dispatch
 * up` and the testkit both start NATS with it.
 *
 * @example
 * const nats = await startNatsServer({ dir, authorization: { user: "dispatch", password } });
 * // ... connect to nats.url with the user and password ...
 * await nats.stop();
 */
export async function startNatsServer(options: NatsServerOptions): Promise<NatsServerProcess> {
  const bin = options.bin ?? natsServerBinary();
  const host = options.host ?? "127.0.0.1";
  const files = filesOf(options.dir);
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  await writeConfig(files, options, host, options.port ?? -1);
  const first = await launch(bin, files, options.detached ?? false);
  // Later starts (restart) listen where the first one did.
  await writeConfig(files, options, host, first.port);
  return createHandle({
    host,
    port: first.port,
    dir: options.dir,
    logFile: files.log,
    running: first,
    relaunch: () => launch(bin, files, options.detached ?? false),
  });
}

/**
 * The server that an earlier {@link startNatsServer} in `dir` left running
 * (its owner was killed), or undefined: its pid file names a live process that
 * runs this directory's config. Checking that it answers, with the
 * credentials, is the caller's part.
 */
export async function attachNatsServer(options: {
  dir: string;
  bin?: string;
  detached?: boolean;
}): Promise<NatsServerProcess | undefined> {
  const files = filesOf(options.dir);
  const pid = Number((await readFile(files.pid, "utf8").catch(() => "")).trim());
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid)) return undefined;
  // A pid can be reused: only a process started with this config file is ours.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => undefined);
  if (cmdline !== undefined && !cmdline.split("\0").includes(files.config)) return undefined;
  const listen = /^listen:\s*"(.*):(\d+)"$/m.exec(await readFile(files.config, "utf8").catch(() => ""));
  if (!listen?.[1] || !listen[2]) return undefined;
  const bin = options.bin ?? natsServerBinary();
  return createHandle({
    host: listen[1],
    port: Number(listen[2]),
    dir: options.dir,
    logFile: files.log,
    running: adopted(pid),
    relaunch: () => launch(bin, files, options.detached ?? false),
  });
}

/**
 * Why the server at `url` is not one started with `authorization`, or
 * undefined when it is: it requires a login, accepts this one, and runs JetStream.
 */
export async function checkNatsServer(
  url: string,
  authorization: NatsUserPassword,
): Promise<string | undefined> {
  try {
    const nc = await connect({
      servers: url,
      user: authorization.user,
      pass: authorization.password,
      reconnect: false,
      name: "dispatch-check",
    });
    try {
      if (nc.info?.auth_required !== true) return "it lets clients in without credentials";
      if (nc.info.jetstream !== true) return "it runs without JetStream";
      return undefined;
    } finally {
      await nc.close();
    }
  } catch (err) {
    return `it does not answer to the credentials (${(err as Error).message})`;
  }
}

/** A server process as the handle drives it. */
interface Running {
  pid: number;
  /** Resolves when the process has exited. */
  exited(): Promise<void>;
  signal(signal: NodeJS.Signals): void;
  isRunning(): boolean;
}

function createHandle(state: {
  host: string;
  port: number;
  dir: string;
  logFile: string;
  running: Running;
  relaunch: () => Promise<Running & { port: number }>;
}): NatsServerProcess {
  let running: Running | undefined = state.running;
  const url = `nats://${state.host.includes(":") ? `[${state.host}]` : state.host}:${state.port}`;
  const terminate = async (signal: NodeJS.Signals) => {
    const proc = running;
    if (!proc?.isRunning()) return;
    proc.signal(signal);
    if (signal === "SIGKILL") return await proc.exited();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      proc.exited(),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          proc.signal("SIGKILL");
          resolve(proc.exited());
        }, 10_000);
      }),
    ]);
    clearTimeout(timer);
  };
  return {
    url,
    host: state.host,
    port: state.port,
    dir: state.dir,
    logFile: state.logFile,
    get pid() {
      return running?.pid ?? 0;
    },
    get exited() {
      return running?.exited() ?? Promise.resolve();
    },
    stop: () => terminate("SIGTERM"),
    kill: () => terminate("SIGKILL"),
    async restart() {
      await terminate("SIGTERM");
      running = undefined;
      running = await state.relaunch();
    },
  };
}

async function writeConfig(
  files: ReturnType<typeof filesOf>,
  options: NatsServerOptions,
  host: string,
  port: number,
): Promise<void> {
  // Strings are written as JSON strings, which the NATS config syntax reads as such.
  const q = (value: string) => JSON.stringify(value);
  const { authorization, tls } = options;
  const lines = [
    "# Written by Dispatch each time it starts this server; edits are overwritten.",
    `listen: ${q(`${host}:${port}`)}`,
    `jetstream { store_dir: ${q(options.dir)} }`,
    `pid_file: ${q(files.pid)}`,
    `log_file: ${q(files.log)}`,
    ...(authorization
      ? [
          // timeout: seconds a client has to authenticate after connecting (default 2). A loaded
          // machine can take longer than that between accept and CONNECT, and the server then
          // says "Authentication Timeout", which reads like bad credentials.
          `authorization { user: ${q(authorization.user)}, password: ${q(authorization.password)}, timeout: 30 }`,
        ]
      : []),
    ...(tls
      ? [
          `tls { cert_file: ${q(tls.certFile)}, key_file: ${q(tls.keyFile)}${tls.caFile ? `, ca_file: ${q(tls.caFile)}, verify: true` : ""} }`,
        ]
      : []),
  ];
  // It may hold a password: only the owner reads it.
  await writeFile(files.config, `${lines.join("\n")}\n`, { mode: 0o600 });
  await chmod(files.config, 0o600);
}

/** Spawns the server and waits until its log says it is ready; its port from the log. */
async function launch(
  bin: string,
  files: ReturnType<typeof filesOf>,
  detached: boolean,
): Promise<Running & { port: number }> {
  // The log file, not a pipe: a server that outlives this process must not
  // write into a pipe nobody reads (a Go program dies of SIGPIPE writing to
  // stderr). Errors before the server opens log_file land there too.
  const log = await open(files.log, "a", 0o600);
  const offset = (await log.stat()).size;
  let child: ChildProcess;
  try {
    child = spawn(bin, ["-c", files.config], { stdio: ["ignore", log.fd, log.fd], detached });
  } finally {
    await log.close();
  }
  // A binary that cannot be run emits "error" and no "exit".
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  const started = await new Promise<{ port: number } | { error: Error }>((resolve) => {
    child.once("error", (err) =>
      resolve({
        error: new NatsServerError(
          `cannot run ${bin}: ${err.message}. Install nats-server (Debian/Ubuntu: sudo apt-get install nats-server)`,
        ),
      }),
    );
    void followLog(files.log, offset, exited).then((text) => {
      const port = /Listening for client connections on .*:(\d+)/.exec(text)?.[1];
      if (text.includes("Server is ready") && port) resolve({ port: Number(port) });
      else {
        const tail = text.trim().split("\n").slice(-5).join("\n");
        resolve({
          error: new NatsServerError(
            `nats-server exited before it was ready (its log is ${files.log}):\n${tail}`,
          ),
        });
      }
    });
  });
  if ("error" in started) {
    child.kill("SIGKILL");
    throw started.error;
  }
  // A normal exit of this process (even on an uncaught error) stops the server;
  // only a killed owner leaves it running.
  const reap = () => child.kill("SIGTERM");
  process.on("exit", reap);
  void exited.then(() => process.off("exit", reap));
  // Detached: this process may exit without waiting for the server.
  if (detached) child.unref();
  return {
    port: started.port,
    pid: child.pid ?? 0,
    exited: () => exited,
    signal: (signal) => child.kill(signal),
    isRunning: () => child.exitCode === null && child.signalCode === null,
  };
}

/**
 * The log written after `offset`, up to the "Server is ready" line, or up to
 * the server's exit. Follows the file with fs.watch: no polling.
 */
function followLog(file: string, offset: number, exited: Promise<void>): Promise<string> {
  return new Promise((resolve) => {
    const fd = openSync(file, "r");
    let position = offset;
    let text = "";
    let done = false;
    const buffer = Buffer.alloc(64 * 1024);
    const read = () => {
      for (;;) {
        const n = readSync(fd, buffer, 0, buffer.length, position);
        if (n === 0) break;
        position += n;
        text += buffer.toString("utf8", 0, n);
      }
    };
    const finish = () => {
      if (done) return;
      done = true;
      watcher.close();
      closeSync(fd);
      resolve(text);
    };
    const check = () => {
      if (done) return;
      read();
      if (text.includes("Server is ready")) finish();
    };
    const watcher = watch(file, check);
    void exited.then(() => {
      if (!done) read();
      finish();
    });
    check();
  });
}

/** A server started by another process (an earlier, killed `dispatch up`). */
function adopted(pid: number): Running {
  // Not our child: no exit event reaches us, so its end is seen by looking
  // (only once someone waits for it, after a stop signal).
  let exited: Promise<void> | undefined;
  return {
    pid,
    exited: () =>
      (exited ??= (async () => {
        while (isRunning(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
      })()),
    signal: (signal) => {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    },
    isRunning: () => isRunning(pid),
  };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
