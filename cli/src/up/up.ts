import { join } from "node:path";
import {
  ConfigurationError,
  type ControlPlane,
  type FunctionLimits,
  type IsolationChoice,
  startControlPlane,
} from "@dispatch/control-plane";
import { Role } from "@dispatch/proto";
import type { DriverFactory } from "@dispatch/server-kit";
import { configPath, saveContext } from "../config.js";
import { clientVersion } from "../version.js";
import { claimDataDir, type DataDir, openDataDir, readPorts, savePorts } from "./data-dir.js";
import { findEnvoy, installEnvoyHint } from "./envoy.js";
import { startUpEvents, type UpEvents } from "./events.js";
import { gatewayTls } from "./gateway-tls.js";
import { startUpIngress, type UpIngress } from "./ingress.js";
import { externalNats, startOwnNats, type UpNats } from "./nats.js";
import { choosePort, startOnPickedPorts } from "./ports.js";
import { UpError } from "./up-error.js";

export { UpError } from "./up-error.js";

/** Options of `dispatch up`. */
export interface UpOptions {
  dataDir: string;
  host: string;
  port: number;
  /** Use this NATS (--nats-url) instead of starting one. */
  natsUrl?: string;
  /** A NATS credentials file for {@link natsUrl}. */
  natsCreds?: string;
  /** TLS files for {@link natsUrl}. */
  natsTls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** The port of the nats-server `dispatch up` starts; default the one used last time, else a free one. */
  natsPort?: number;
  natsServerBin: string;
  /** The activator's port; default the one used last time, else a free one. */
  activatorPort?: number;
  /** The gateway's port; default the one used last time, else 8081, else a free one. */
  gatewayPort?: number;
  /** The xds-server's port (on 127.0.0.1); default the one used last time, else a free one. */
  xdsPort?: number;
  /** The event broker's port; default the one used last time, else 8082, else a free one. */
  eventsPort?: number;
  /** How long and how much each org's broker keeps; default 7 days, 1 GiB. */
  eventsRetention?: { maxAgeMs: number; maxBytes: number };
  /** The gateway's HTTPS port; default the one used last time, else 8444, else a free one. */
  gatewayTlsPort?: number;
  /** The gateway's certificate and key (PEM files); default a self-signed one made in the data dir. */
  gatewayTlsCert?: string;
  gatewayTlsKey?: string;
  /** The CLI context to write (server + admin token). */
  contextName: string;
  /** Run record retention. */
  runRetention?: { maxAgeMs: number; maxPerFunction: number };
  /** Largest bundle accepted. */
  maxBundleBytes?: number;
  /** Unpacked bundle size and files, scale bounds, instances per org. */
  functionLimits?: Partial<FunctionLimits>;
  /** Most endpoints one org may have; default 10,000. */
  maxEndpointsPerOrg?: number;
  /** Most event subscriptions one org may have; default 1,000. */
  maxSubscriptionsPerOrg?: number;
  /** How function workers are isolated; default auto (the strongest available). */
  isolation?: IsolationChoice;
  /** What runs function instances, for embedding (tests run functions as pods of a fake cluster); default local workers. */
  driver?: DriverFactory;
  /** The data plane: the embedded gateway (default), or Envoy from the PATH (or `envoyBin`). */
  gateway?: "embedded" | "envoy";
  envoyBin?: string;
  /** Whether the gateway writes an access log line (JSON) per request on stdout; default true. */
  accessLog?: boolean;
  /** The CLI config file to write the context to. */
  configPath?: string;
  log(line: string): void;
}

/** A running `dispatch up`: every component and their URLs. */
export interface Up {
  urls: Record<string, string>;
  dataDir: DataDir;
  controlPlane: ControlPlane;
  ingress: UpIngress;
  events: UpEvents;
  /** Stops every component, its own nats-server last. */
  stop(): Promise<void>;
}

/**
 * Starts Dispatch on this machine: NATS (its own nats-server in the data dir,
 * or the one named with --nats-url), then the control plane with the admin
 * token from the data dir; saves a CLI context that points at it, and the
 * ports it used for the next start.
 */
export async function startUp(options: UpOptions): Promise<Up> {
  // Before anything is made or started: a missing Envoy changes nothing.
  if (options.gateway === "envoy" && !(await findEnvoy(options.envoyBin ?? "envoy"))) {
    throw new UpError(
      `--gateway envoy: there is no "${options.envoyBin ?? "envoy"}" binary on the PATH: ${installEnvoyHint}`,
    );
  }
  const dataDir = await openDataDir(options.dataDir);
  const claim = await claimDataDir(dataDir.path);
  if ("heldBy" in claim) {
    throw new UpError(
      `another dispatch up (pid ${claim.heldBy}) is running with the data dir ${dataDir.path}: stop it first, or use another --data-dir`,
    );
  }
  try {
    return await startClaimed(options, dataDir, claim);
  } catch (err) {
    await claim.release();
    throw err;
  }
}

async function startClaimed(
  options: UpOptions,
  dataDir: DataDir,
  claim: { release(): Promise<void> },
): Promise<Up> {
  // Before anything starts: without Envoy there is nothing to undo.
  if (options.gateway === "envoy" && !(await findEnvoy(options.envoyBin ?? "envoy"))) {
    throw new UpError(
      `--gateway envoy: there is no "${options.envoyBin ?? "envoy"}" binary on the PATH: ${installEnvoyHint}`,
    );
  }
  const nats: UpNats =
    options.natsUrl === undefined
      ? await startOwnNats({
          dataDir: dataDir.path,
          bin: options.natsServerBin,
          ...(options.natsPort === undefined ? {} : { port: options.natsPort }),
          log: options.log,
        })
      : externalNats({
          url: options.natsUrl,
          ...(options.natsCreds ? { credsFile: options.natsCreds } : {}),
          ...(options.natsTls ? { tls: options.natsTls } : {}),
          log: options.log,
        });
  const remembered = await readPorts(dataDir.path);
  const activatorPort = await choosePort({
    name: "activator",
    flag: "--activator-port",
    asked: options.activatorPort,
    remembered: remembered.activator,
    log: options.log,
  });
  let ingress: UpIngress | undefined;
  let events: UpEvents | undefined;
  let controlPlane: ControlPlane;
  try {
    controlPlane = await startControlPlane({
      nats: nats.connection,
      host: options.host,
      port: options.port,
      activatorPort,
      ...(options.driver ? { driver: options.driver } : {}),
      secretKey: dataDir.secretKey,
      bootstrapTokens: [
        { name: "admin", secret: dataDir.adminToken, role: Role.ADMIN },
        { name: "components", secret: dataDir.componentToken, role: Role.COMPONENT },
      ],
      components: () =>
        ingress
          ? [
              {
                name: "gateway",
                url: ingress.urls.gateway,
                describe: () => ingressLine(ingress),
              },
              ...(ingress.urls.gatewayTls ? [{ name: "gateway-https", url: ingress.urls.gatewayTls }] : []),
              { name: "xds", url: ingress.urls.xds },
              ...(events
                ? [
                    {
                      name: "events",
                      url: events.broker.url,
                      check: () => events?.problem(),
                      describe: () => eventsLine(events),
                    },
                  ]
                : []),
            ]
          : [],
      // Every caller sees this: no file paths. The CLI adds where its token came from.
      authHint: `On the machine that runs "dispatch up", the CLI context "${options.contextName}" holds an admin token.`,
      version: clientVersion(),
      workDir: join(dataDir.path, "work"),
      ...(options.runRetention ? { runRetention: options.runRetention } : {}),
      ...(options.maxBundleBytes ? { maxBundleBytes: options.maxBundleBytes } : {}),
      ...(options.functionLimits ? { functionLimits: options.functionLimits } : {}),
      ...(options.isolation ? { isolation: options.isolation } : {}),
      ...(options.maxEndpointsPerOrg ? { maxEndpointsPerOrg: options.maxEndpointsPerOrg } : {}),
      ...(options.maxSubscriptionsPerOrg ? { maxSubscriptionsPerOrg: options.maxSubscriptionsPerOrg } : {}),
      log: (message, error) =>
        options.log(
          `control-plane: ${message}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        ),
    });
  } catch (err) {
    await nats.own?.stop();
    if (err instanceof ConfigurationError) throw new UpError(err.message);
    const failed = err as NodeJS.ErrnoException & { port?: number };
    if (failed.code === "EADDRINUSE") {
      if (failed.port === activatorPort && activatorPort !== 0) {
        throw new UpError(
          `port ${activatorPort} of the activator is in use: is Dispatch already running? Stop it, or pick another port with --activator-port`,
        );
      }
      throw new UpError(
        `port ${options.port} on ${options.host} is in use: is Dispatch already running? Stop it, or pick another port with --port`,
      );
    }
    throw err;
  }

  try {
    const embedded = (options.gateway ?? "embedded") === "embedded";
    const tls = !embedded
      ? undefined
      : await gatewayTls({
          dataDir: dataDir.path,
          ...(options.gatewayTlsCert === undefined ? {} : { certFile: options.gatewayTlsCert }),
          ...(options.gatewayTlsKey === undefined ? {} : { keyFile: options.gatewayTlsKey }),
          log: options.log,
        });
    // Ports that must be known before listening are picked free, then listened on: another program
    // (another dispatch up starting) may take one in between. Then others are picked, unless the
    // user named that port.
    const named = new Set(
      [options.gatewayPort, options.xdsPort, options.gatewayTlsPort].filter(
        (p) => p !== undefined && p !== 0,
      ),
    );
    ingress = await startOnPickedPorts({
      attempts: 3,
      start: async () => {
        const gatewayPort = await choosePort({
          name: "gateway",
          flag: "--gateway-port",
          asked: options.gatewayPort,
          remembered: remembered.gateway,
          preferred: defaultGatewayPort,
          host: options.host,
          concrete: true,
          log: options.log,
        });
        const xdsPort = await choosePort({
          name: "xds-server",
          flag: "--xds-port",
          asked: options.xdsPort,
          remembered: remembered.xds,
          log: options.log,
        });
        const tlsPort = tls
          ? await choosePort({
              name: "gateway (HTTPS)",
              flag: "--gateway-tls-port",
              asked: options.gatewayTlsPort,
              remembered: remembered.gatewayTls,
              preferred: defaultGatewayTlsPort,
              host: options.host,
              concrete: true,
              log: options.log,
            })
          : undefined;
        return startUpIngress({
          apiUrl: controlPlane.url,
          activatorUrl: controlPlane.urls().activator ?? "",
          componentToken: dataDir.componentToken,
          xdsNodeToken: dataDir.xdsNodeToken,
          gateway: {
            host: options.host,
            port: gatewayPort,
            ...(tls && tlsPort !== undefined ? { tls: { port: tlsPort, cert: tls.cert, key: tls.key } } : {}),
          },
          xdsPort,
          accessLog: options.accessLog ?? true,
          dataPlane: embedded
            ? { kind: "embedded" }
            : { kind: "envoy", bin: options.envoyBin ?? "envoy", dataDir: dataDir.path },
          log: options.log,
        });
      },
      mayPickAgain: (port) => !named.has(port),
      retryLine: (port) => `ingress: port ${port ?? ""} was taken meanwhile: picking others`,
      log: options.log,
    });
    const eventsPort = await choosePort({
      name: "event broker",
      flag: "--events-port",
      asked: options.eventsPort,
      remembered: remembered.events,
      preferred: defaultEventsPort,
      host: options.host,
      log: options.log,
    });
    const startEvents = (port: number) =>
      startUpEvents({
        apiUrl: controlPlane.url,
        componentToken: dataDir.componentToken,
        nats: nats.connection,
        host: options.host,
        port,
        retention: options.eventsRetention ?? { maxAgeMs: 7 * 24 * 3_600_000, maxBytes: 1024 ** 3 },
        log: options.log,
      });
    // Taken between the look and the listen: any free port will do, unless the user asked for this one.
    events = await startOnPickedPorts({
      attempts: 2,
      start: (attempt) => startEvents(attempt === 1 ? eventsPort : 0),
      mayPickAgain: () => options.eventsPort === undefined,
      retryLine: () =>
        `event broker: port ${eventsPort} was taken meanwhile: picking a free one (--events-port sets one)`,
      log: options.log,
    });
  } catch (err) {
    await events?.stop();
    await ingress?.stop();
    await controlPlane.close();
    await nats.own?.stop();
    const failed = err as NodeJS.ErrnoException & { port?: number };
    if (failed.code === "EADDRINUSE") {
      throw new UpError(
        `port ${failed.port ?? ""} of the gateway (HTTP or HTTPS), the xds-server or the event broker is in use: pick others with --gateway-port, --gateway-tls-port, --xds-port and --events-port`,
      );
    }
    if (err instanceof ConfigurationError) throw new UpError(err.message);
    throw err;
  }
  const running = ingress;
  const broker = events;
  const urls = controlPlane.urls();
  await savePorts(dataDir.path, {
    ...remembered,
    ...(nats.own ? { nats: nats.own.port } : {}),
    activator: Number(new URL(urls.activator ?? "http://127.0.0.1:0").port),
    gateway: Number(new URL(running.urls.gateway).port),
    ...(running.urls.gatewayTls ? { gatewayTls: Number(new URL(running.urls.gatewayTls).port) } : {}),
    xds: running.controller.xds.port,
    events: broker.broker.port,
  });
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
    ingress: running,
    events: broker,
    async stop() {
      await broker.stop();
      await running.stop();
      await controlPlane.close();
      await nats.own?.stop();
      await claim.release();
    },
  };
}

/** The gateway's port on a first start, when it is free: the API has 8080. */
const defaultGatewayPort = 8081;
/** The gateway's HTTPS port on a first start, when it is free. */
const defaultGatewayTlsPort = 8444;
/** The event broker's port on a first start, when it is free. */
const defaultEventsPort = 8082;

/** The broker's line in `dispatch status`: how many subscriptions it delivers. */
function eventsLine(events: UpEvents | undefined): string {
  if (!events) return "starting";
  const count = events.broker.subscriptions.running().size;
  return `CloudEvents in at POST /<org>/default; ${count} subscription${count === 1 ? "" : "s"} delivering`;
}

/** The gateway's line in `dispatch status`: which data planes the xds-server serves. */
function ingressLine(ingress: UpIngress | undefined): string {
  if (!ingress) return "starting";
  const proxies = ingress.controller.xds.clients().map((c) => c.node.id);
  return proxies.length === 0
    ? "no data plane connected to the xds-server"
    : `programmed by the xds-server; data planes: ${proxies.sort().join(", ")}`;
}
