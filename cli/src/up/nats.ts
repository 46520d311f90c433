import { spawn } from "node:child_process";
import { join } from "node:path";
import {
  attachNatsServer,
  checkNatsServer,
  type NatsConnectionSettings,
  NatsServerError,
  type NatsServerProcess,
  natsDisplayUrl,
  parseNatsUrl,
  startNatsServer,
} from "@dispatch/server-kit";
import { natsCredentials, readPorts } from "./data-dir.js";
import { isFree } from "./ports.js";
import { UpError } from "./up-error.js";

/** The NATS that `dispatch up` uses: its own server, or one it was told about. */
export interface UpNats {
  /** How the control plane connects. */
  connection: NatsConnectionSettings;
  /** The server `dispatch up` owns and stops on exit; undefined for one given with --nats-url. */
  own?: NatsServerProcess;
}

/** Where `dispatch up` keeps its nats-server: store, config, log and pid file. */
export function natsDir(dataDir: string): string {
  return join(dataDir, "nats");
}

/** Options for {@link startOwnNats}. */
export interface OwnNatsOptions {
  dataDir: string;
  bin: string;
  /** The port asked for with --nats-port; else the one used last time, else a free one. */
  port?: number;
  log(line: string): void;
}

/**
 * Starts the nats-server `dispatch up` owns, in `<data-dir>/nats`, with the
 * user and password of `<data-dir>/nats-credentials.json`, on the port it
 * used last time (a free one the first time). A server that an earlier,
 * killed `dispatch up` left running there is used again once it answers to
 * the credentials. A NATS that `dispatch up` did not start is never used.
 */
export async function startOwnNats(options: OwnNatsOptions): Promise<UpNats> {
  const dir = natsDir(options.dataDir);
  const { credentials, file } = await natsCredentials(options.dataDir);
  const connection = (server: NatsServerProcess): NatsConnectionSettings => ({
    servers: server.url,
    user: credentials.user,
    password: credentials.password,
  });

  const left = await attachNatsServer({ dir, bin: options.bin, detached: true });
  if (left) {
    const problem =
      options.port !== undefined && options.port !== left.port
        ? `it listens on port ${left.port}, not on ${options.port} (--nats-port)`
        : undefined;
    const answer = problem ?? (await checkNatsServer(left.url, credentials));
    if (answer === undefined) {
      options.log(
        `nats: using the nats-server an earlier dispatch up started (pid ${left.pid}, ${left.url}); it stops with this one`,
      );
      return { connection: connection(left), own: left };
    }
    options.log(
      `nats: stopping the nats-server an earlier dispatch up left running (pid ${left.pid}): ${answer}`,
    );
    await left.stop();
  }

  if (!(await canRun(options.bin))) {
    throw new UpError(
      `"${options.bin}" is not installed. Install it (Debian/Ubuntu: sudo apt-get install nats-server), name it with --nats-server-bin, or use a NATS server with JetStream with --nats-url`,
    );
  }
  let port = options.port;
  if (port === undefined) {
    const remembered = (await readPorts(options.dataDir)).nats;
    if (remembered !== undefined && !(await isFree(remembered))) {
      options.log(
        `nats: port ${remembered}, used last time, is taken by another program: picking a free one`,
      );
    } else port = remembered;
  } else if (!(await isFree(port))) {
    throw new UpError(
      `port ${port} (--nats-port) is in use by another program: pick another one, or leave --nats-port out`,
    );
  }
  options.log(`nats: starting nats-server with JetStream in ${dir}`);
  let server: NatsServerProcess;
  try {
    server = await startNatsServer({
      dir,
      ...(port === undefined ? {} : { port }),
      authorization: credentials,
      bin: options.bin,
      // Ctrl-C in the terminal must not stop NATS under the control plane
      // while it finishes calls; `dispatch up` stops it last.
      detached: true,
    });
  } catch (err) {
    if (err instanceof NatsServerError) throw new UpError(err.message);
    throw err;
  }
  options.log(
    `nats: nats-server (pid ${server.pid}) listens on ${server.url}; clients log in with the user and password in ${file}; log ${server.logFile}`,
  );
  return { connection: connection(server), own: server };
}

/** Options for {@link externalNats}. */
export interface ExternalNatsOptions {
  url: string;
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  log(line: string): void;
}

/** The NATS named with --nats-url (or NATS_URL), with its credentials and TLS settings. */
export function externalNats(options: ExternalNatsOptions): UpNats {
  let connection: NatsConnectionSettings;
  try {
    connection = parseNatsUrl(options.url);
  } catch (err) {
    throw new UpError(`--nats-url: ${(err as Error).message}`);
  }
  if (options.credsFile) connection.credsFile = options.credsFile;
  if (options.tls && Object.values(options.tls).some(Boolean)) {
    connection.tls = { ...connection.tls, ...options.tls };
  }
  const login = connection.credsFile
    ? `the credentials file ${connection.credsFile}`
    : connection.user !== undefined
      ? `user "${connection.user}" and the password from the URL`
      : connection.token !== undefined
        ? "the token from the URL"
        : "no credentials";
  options.log(
    `nats: using NATS at ${natsDisplayUrl(connection)} (--nats-url), logging in with ${login}${connection.tls ? ", over TLS" : ""}`,
  );
  return { connection };
}

/** Whether `bin --version` runs. */
function canRun(bin: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(bin, ["--version"], { stdio: "ignore" });
    child.once("error", () => resolve(false));
    child.once("exit", (code) => resolve(code === 0));
  });
}
