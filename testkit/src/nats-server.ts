import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type NatsConnectionSettings,
  type NatsServerOptions,
  type NatsUserPassword,
  startNatsServer,
} from "@dispatch/server-kit";
import type { ConnectionOptions } from "@nats-io/transport-node";

/** A nats-server with JetStream started for a test. */
export interface NatsServer {
  /** nats://127.0.0.1:PORT, without credentials. */
  url: string;
  port: number;
  storeDir: string;
  /** What a client must log in with; undefined when started with `auth: false`. */
  credentials: NatsUserPassword | undefined;
  /** The URL with the credentials in it, as `dispatch up --nats-url` takes it. */
  urlWithCredentials: string;
  /** Connection settings for a control plane (`ControlPlaneOptions.nats`). */
  connection: NatsConnectionSettings;
  /** Options for a raw nats.js `connect()`, credentials included. */
  connectOptions: ConnectionOptions;
  /** Kills the server the hard way (SIGKILL), as a crash would. The store dir stays. */
  kill(): Promise<void>;
  /** Starts it again on the same port, store dir and credentials (after {@link kill} or {@link stop}, or while it runs). */
  restart(): Promise<void>;
  /** Stops the server and removes its store dir. */
  stop(): Promise<void>;
}

/** Options for {@link startNats}. */
export interface StartNatsOptions {
  /** The nats-server binary; default `natsServerBinary()` ($NATS_SERVER_BIN, PATH, sbin). */
  bin?: string;
  /** Reuse this store dir instead of a new temp dir. */
  storeDir?: string;
  /**
   * Require a user and password (default true, so every test goes the
   * credentialed way `dispatch up` goes); false lets anyone connect.
   */
  auth?: boolean;
  /** Serve TLS only (`NatsServerOptions.tls`); `url` is then a tls:// URL. */
  tls?: NatsServerOptions["tls"];
}

/**
 * A free TCP port on 127.0.0.1 below the ephemeral range (20000-29999), for a
 * server that must get the same port again after a restart: a port the system
 * hands out for "port 0" (as {@link freePort} does) may be taken by any other
 * process the moment it is free, one below that range only by someone who asks
 * for it by number.
 */
export async function stablePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
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
 * Starts nats-server with JetStream on a free port and a temp store dir, with
 * a generated user and password, through the project's one launcher
 * (`startNatsServer`), and waits until it is ready. Isolated from any NATS on the machine.
 *
 * @example
 * const nats = await startNats();
 * try { const nc = await connect(nats.connectOptions); ... } finally { await nats.stop(); }
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServer> {
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), "dispatch-nats-")));
  const credentials =
    options.auth === false ? undefined : { user: "test", password: randomBytes(18).toString("base64url") };
  const server = await startNatsServer({
    dir: storeDir,
    ...(credentials ? { authorization: credentials } : {}),
    ...(options.bin ? { bin: options.bin } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
  });
  const scheme = options.tls ? "tls" : "nats";
  const url = server.url.replace(/^nats:/, `${scheme}:`);
  const auth = credentials ? { user: credentials.user, password: credentials.password } : {};
  return {
    url,
    port: server.port,
    storeDir,
    credentials,
    urlWithCredentials: credentials
      ? `${scheme}://${credentials.user}:${credentials.password}@127.0.0.1:${server.port}`
      : url,
    connection: { servers: url, ...auth },
    connectOptions: {
      servers: url,
      ...(credentials ? { user: credentials.user, pass: credentials.password } : {}),
    },
    kill: () => server.kill(),
    restart: () => server.restart(),
    async stop() {
      await server.stop();
      if (!options.storeDir) await rm(storeDir, { recursive: true, force: true });
    },
  };
}
