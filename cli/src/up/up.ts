import { join } from "node:path";
import {
  ConfigurationError,
  type ControlPlane,
  type IsolationChoice,
  startControlPlane,
} from "@dispatch/control-plane";
import { Role } from "@dispatch/proto";
import { configPath, saveContext } from "../config.js";
import { clientVersion } from "../version.js";
import { type DataDir, openDataDir } from "./data-dir.js";
import { type EmbeddedNats, hasNatsServer, probeNats, startEmbeddedNats } from "./nats.js";

/** Options of `dispatch up`. */
export interface UpOptions {
  dataDir: string;
  host: string;
  port: number;
  natsUrl: string;
  natsServerBin: string;
  /** The CLI context to write (server + admin token). */
  contextName: string;
  /** Run record retention. */
  runRetention?: { maxAgeMs: number; maxPerFunction: number };
  /** Largest bundle accepted. */
  maxBundleBytes?: number;
  /** How function workers are isolated; default auto (the strongest available). */
  isolation?: IsolationChoice;
  /** The CLI config file to write the context to. */
  configPath?: string;
  log(line: string): void;
}

/** A running `dispatch up`: every component and their URLs. */
export interface Up {
  urls: Record<string, string>;
  dataDir: DataDir;
  controlPlane: ControlPlane;
  /** Stops every component, the embedded nats-server last. */
  stop(): Promise<void>;
}

/** An error that `dispatch up` reports as a plain message (no stack). */
export class UpError extends Error {
  override readonly name = "UpError";
}

/**
 * Starts Dispatch on this machine: NATS (an existing server, or nats-server
 * started in the data dir), then the control plane with the admin token from
 * the data dir; saves a CLI context that points at it.
 */
export async function startUp(options: UpOptions): Promise<Up> {
  const dataDir = await openDataDir(options.dataDir);
  const nats = await connectNats(options, dataDir);
  let controlPlane: ControlPlane;
  try {
    controlPlane = await startControlPlane({
      natsUrl: nats.url,
      host: options.host,
      port: options.port,
      secretKey: dataDir.secretKey,
      bootstrapTokens: [{ name: "admin", secret: dataDir.adminToken, role: Role.ADMIN }],
      authHint: `The admin token is in ${dataDir.adminTokenPath}; "dispatch up" saved it in the CLI context "${options.contextName}".`,
      version: clientVersion(),
      workDir: join(dataDir.path, "work"),
      ...(options.runRetention ? { runRetention: options.runRetention } : {}),
      ...(options.maxBundleBytes ? { maxBundleBytes: options.maxBundleBytes } : {}),
      ...(options.isolation ? { isolation: options.isolation } : {}),
      log: (message, error) =>
        options.log(
          `control-plane: ${message}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        ),
    });
  } catch (err) {
    await nats.embedded?.stop();
    if (err instanceof ConfigurationError) throw new UpError(err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw new UpError(
        `port ${options.port} on ${options.host} is in use: is Dispatch already running? Stop it, or pick another port with --port`,
      );
    }
    throw err;
  }

  const urls = controlPlane.urls();
  const isolation = controlPlane.isolation;
  if (isolation) options.log(`isolation: ${isolation.summary}`);
  if (isolation?.warning) options.log(`WARNING: ${isolation.warning}`);
  await saveContext(
    options.contextName,
    { server: controlPlane.url, token: dataDir.adminToken, org: "default" },
    { makeCurrent: true, configPath: options.configPath ?? configPath() },
  );
  return {
    urls,
    dataDir,
    controlPlane,
    async stop() {
      await controlPlane.close();
      await nats.embedded?.stop();
    },
  };
}

async function connectNats(
  options: UpOptions,
  dataDir: DataDir,
): Promise<{ url: string; embedded?: EmbeddedNats }> {
  const url = options.natsUrl;
  const info = await probeNats(url);
  if (info) {
    if (!info.jetstream) {
      throw new UpError(
        `the NATS server at ${url} (version ${info.version}) has JetStream turned off: restart it with -js, or point NATS_URL at another server`,
      );
    }
    options.log(`using NATS ${info.version} at ${url}`);
    return { url };
  }
  if (!(await hasNatsServer(options.natsServerBin))) {
    throw new UpError(
      `nothing answers at ${url} and "${options.natsServerBin}" is not installed. Install it (Debian/Ubuntu: sudo apt-get install nats-server), or set NATS_URL to a NATS server with JetStream`,
    );
  }
  options.log(`no NATS at ${url}: starting nats-server with JetStream in ${dataDir.path}/nats`);
  const embedded = await startEmbeddedNats(options.natsServerBin, url, dataDir.path);
  return { url, embedded };
}
