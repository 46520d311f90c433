import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  errors,
  type NatsConnection,
} from "@nats-io/transport-node";
import { ConfigurationError } from "../errors.js";

/**
 * How a server reaches NATS: one object, so that an entry point can
 * fill it from flags or the environment (`dispatch up --nats-url … --nats-creds …`).
 */
export interface NatsConnectionSettings {
  /**
   * Server URL(s), e.g. `nats://127.0.0.1:4222`. Credentials in a URL are
   * used: `nats://user:password@host:port` or `nats://token@host:port`
   * (see {@link parseNatsUrl}).
   */
  servers: string | readonly string[];
  user?: string;
  password?: string;
  token?: string;
  /** A NATS credentials file (JWT and nkey seed, as `nsc` or a NATS operator hands out). */
  credsFile?: string;
  /** TLS: the CA that signed the server's certificate, and a client certificate and key when the server asks for one. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** Wait between reconnect attempts (plus up to 100 ms of jitter); default 1 s. Reconnecting never stops. */
  reconnectWaitMs?: number;
}

/** Default wait between reconnect attempts. */
export const defaultReconnectWaitMs = 1000;

/**
 * Settings from a URL as NATS_URL takes it: one or more comma-separated
 * server URLs, whose `user:password@` or `token@` become the credentials and
 * are removed from the server list. A `tls://` URL requires TLS.
 *
 * @example
 * parseNatsUrl("nats://dispatch:s3cret@10.0.0.5:4222")
 * // { servers: ["nats://10.0.0.5:4222"], user: "dispatch", password: "s3cret" }
 */
export function parseNatsUrl(value: string): NatsConnectionSettings {
  const settings: {
    servers: string[];
    user?: string;
    password?: string;
    token?: string;
    tls?: NonNullable<NatsConnectionSettings["tls"]>;
  } = { servers: [] };
  for (const part of value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `nats://${part}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new ConfigurationError(`"${redact(part)}" is not a NATS URL (nats://host:port)`);
    }
    if (url.username !== "") {
      const user = decodeURIComponent(url.username);
      if (url.password !== "") {
        settings.user = user;
        settings.password = decodeURIComponent(url.password);
      } else settings.token = user;
    }
    if (url.protocol === "tls:") settings.tls = {};
    settings.servers.push(`${url.protocol}//${url.host}`);
  }
  if (settings.servers.length === 0) throw new ConfigurationError("the NATS URL is empty");
  return settings;
}

/** The servers as shown to people (status, logs): never with credentials. */
export function natsDisplayUrl(settings: NatsConnectionSettings): string {
  const servers = typeof settings.servers === "string" ? [settings.servers] : settings.servers;
  return servers.map(redact).join(",");
}

/**
 * For one server named by IP address, the host its certificate is checked
 * against: nats.js upgrades the plain socket to TLS without naming the host,
 * and Node then checks the certificate against "localhost". (Extra TLS options
 * reach Node's tls.connect unchanged.)
 */
function ipHost(servers: ConnectionOptions["servers"]): { host?: string } {
  const list = typeof servers === "string" ? [servers] : (servers ?? []);
  if (list.length !== 1 || !list[0]) return {};
  const host = new URL(/:\/\//.test(list[0]) ? list[0] : `nats://${list[0]}`).hostname.replace(
    /^\[|\]$/g,
    "",
  );
  return isIP(host) ? { host } : {};
}

/** A URL with any `user:password@` or `token@` removed. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

/**
 * Connects to NATS with the settings' credentials and TLS, and keeps
 * reconnecting after any outage, however long (nats.js gives up after 10
 * attempts by default). A first connection that fails is a
 * {@link ConfigurationError} saying why.
 */
export async function connectNats(settings: NatsConnectionSettings, name: string): Promise<NatsConnection> {
  const options: ConnectionOptions = {
    servers: typeof settings.servers === "string" ? settings.servers : [...settings.servers],
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: settings.reconnectWaitMs ?? defaultReconnectWaitMs,
    // A connection whose peer vanished without closing it (a network cut) is
    // noticed within about a minute, not the default four.
    pingInterval: 30_000,
    // nats.js would otherwise build an Error (with a stack) for every request
    // it sends, which is a large share of an invocation's CPU.
    noAsyncTraces: true,
  };
  if (settings.user !== undefined) {
    options.user = settings.user;
    options.pass = settings.password ?? "";
  }
  if (settings.token !== undefined) options.token = settings.token;
  if (settings.credsFile !== undefined) {
    const creds = await readFile(settings.credsFile).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigurationError(
        `cannot read the NATS credentials file ${settings.credsFile}: ${err.message}`,
      );
    });
    options.authenticator = credsAuthenticator(creds);
  }
  if (settings.tls) {
    options.tls = {
      ...(settings.tls.caFile ? { caFile: settings.tls.caFile } : {}),
      ...(settings.tls.certFile ? { certFile: settings.tls.certFile } : {}),
      ...(settings.tls.keyFile ? { keyFile: settings.tls.keyFile } : {}),
      ...ipHost(options.servers),
    };
  }
  const where = natsDisplayUrl(settings);
  try {
    return await connectThroughAuthTimeouts(options);
  } catch (err) {
    if (err instanceof errors.AuthorizationError) {
      throw new ConfigurationError(
        `NATS at ${where} refused the credentials (${err.message}): check the user and password or token in the URL, or --nats-creds`,
        { cause: err },
      );
    }
    throw new ConfigurationError(`cannot connect to NATS at ${where}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Attempts at a first connection whose authentication timed out before we give up. */
const authTimeoutAttempts = 5;

/**
 * Connects, trying again when the server dropped the connection because it
 * did not authenticate in time ("Authentication Timeout"): on a loaded machine
 * that is slowness, not wrong credentials.
 */
async function connectThroughAuthTimeouts(options: ConnectionOptions): Promise<NatsConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connect(options);
    } catch (err) {
      const slow = err instanceof errors.AuthorizationError && /timeout/i.test(err.message);
      if (!slow || attempt >= authTimeoutAttempts) throw err;
    }
  }
}
