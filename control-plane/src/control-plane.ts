import { setMaxListeners } from "node:events";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { type Role, SystemService } from "@dispatch/proto";
import {
  connectNats,
  createErrorInterceptor,
  createHealthAnswers,
  createRequestGate,
  type DriverFactory,
  type IsolationReport,
  type LeaderGate,
  listenDual,
  type NatsConnectionSettings,
  type NatsHealth,
  natsDisplayUrl,
  shareHealth,
  trackNatsHealth,
} from "@dispatch/server-kit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { OrgDirectory } from "./auth/org-directory.js";
import { principalKey } from "./auth/principal.js";
import { tokenSigningKey } from "./auth/token-record.js";
import { TokenRegistry } from "./auth/token-registry.js";
import { checkSecretKey, ensureDefaultOrg } from "./bootstrap.js";
import { listComponents } from "./components.js";
import { ConfigurationError, controlPlaneErrors, type ErrorLogger } from "./errors.js";
import { startFunctions } from "./functions/functions.js";
import { createInstanceCredentials } from "./functions/instance-credentials.js";
import type { IsolationChoice } from "./functions/isolation/isolation.js";
import type { FunctionLimits } from "./functions/limits.js";
import type { FunctionDefaults } from "./functions/scheduler.js";
import { endpointKind } from "./kinds/endpoint.js";
import { functionKind } from "./kinds/function.js";
import type { Kind, Resource } from "./kinds/kind.js";
import { organizationKind } from "./kinds/organization.js";
import { createSecretKind } from "./kinds/secret.js";
import { subscriptionKind } from "./kinds/subscription.js";
import { createNatsGate } from "./nats/nats-gate.js";
import { createOrgRules } from "./org-rules.js";
import { createRoutes, type KindStores, servedServices } from "./routes.js";
import { createSealer } from "./secrets/sealer.js";
import { EndpointChecks } from "./services/endpoint-checks.js";
import { defaultPageSize, type PageSize } from "./services/resource-service.js";
import { defaultMaxSubscriptionsPerOrg } from "./services/subscription-checks.js";
import type { Component } from "./services/system-service.js";
import { ResourceStore } from "./store/resource-store.js";
import type { RunRetention } from "./store/run-store.js";

/** Options for {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** The NATS server(s) with JetStream, and how to log in to them. */
  nats: NatsConnectionSettings;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  port?: number;
  /** 32-byte key that seals secrets at rest (AES-256-GCM). */
  secretKey: Uint8Array;
  /** Tokens that must exist at start, e.g. the admin token from the data dir. */
  bootstrapTokens?: { name: string; secret: string; role: Role; org?: string }[];
  /**
   * Added to Unauthenticated errors: where a user finds a valid token. Every
   * caller sees it, so it must name no file path and no secret.
   */
  authHint?: string;
  /** List page sizes (default 500, at most 1000 per page). */
  pageSize?: Partial<PageSize>;
  /** Reported by SystemService.GetVersion. */
  version?: string;
  /** Replicas of each KV bucket (1 on one machine, 3 in a NATS cluster). */
  replicas?: number;
  /** Where bundles are unpacked for local workers; default a temp dir. */
  workDir?: string;
  /** Largest bundle accepted; default 32 MiB. */
  maxBundleBytes?: number;
  /** Unpacked bundle size and file count, scale bounds, instances per org (defaults: `defaultFunctionLimits`). */
  functionLimits?: Partial<FunctionLimits>;
  /** How long and how many run records are kept. */
  runRetention?: Partial<RunRetention>;
  /** Most endpoints one org may have; default 10,000. */
  maxEndpointsPerOrg?: number;
  /** Most subscriptions (durable consumers on the broker's streams) one org may have; default 1,000. */
  maxSubscriptionsPerOrg?: number;
  /** Defaults for what function specs leave out (instances, concurrency, idle time, timeout). */
  functionDefaults?: Partial<FunctionDefaults>;
  /**
   * Makes the driver that runs function instances, given what only the
   * control plane has (instance credentials, bundles, logs); default the
   * local driver (worker processes on this machine).
   */
  driver?: DriverFactory;
  /**
   * Among several replicas, whether this one leads: only the leader
   * reconciles functions (starts, scales and stops their instances) and
   * writes their status. Default: this one always leads.
   */
  leader?: LeaderGate;
  /** How the local driver isolates workers: "auto" (default: the strongest available), "bubblewrap" or "process". */
  isolation?: IsolationChoice;
  /** The activator's port; port 0 picks a free one. */
  activatorPort?: number;
  /**
   * The interface the activator listens on; default loopback. On a cluster
   * Envoy reaches it through its Service (every call needs a Dispatch token).
   */
  activatorHost?: string;
  /** Other components of the installation, for `dispatch status`. */
  components?: () => readonly Component[];
  log?: ErrorLogger;
}

/** A running control plane. */
export interface ControlPlane {
  /** Base URL of the Connect/gRPC API, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  nats: NatsConnection;
  /** The NATS connection's state (connected, or lost since when). */
  natsHealth: NatsHealth;
  /** Every component's URL, as `dispatch status -o json` shows them (api, activator, driver, nats, ...). */
  urls(): Record<string, string>;
  /** How function workers are isolated (undefined with a driver that does not say). */
  isolation: IsolationReport | undefined;
  /**
   * Stops gracefully: new calls are refused, in-flight calls finish (up to
   * `graceMs`), watches end cleanly, then NATS is drained.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the control plane: connects to NATS, makes sure the KV buckets exist,
 * and serves the dispatch.v1 API over Connect, gRPC and gRPC-Web (HTTP/1.1 and
 * h2c on one port) with gRPC reflection, /healthz (liveness) and /readyz (connected to NATS).
 *
 * @example
 * const cp = await startControlPlane({ nats: { servers: "nats://127.0.0.1:4222" }, port: 0, secretKey });
 * console.log(cp.url);
 * await cp.close();
 */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log: ErrorLogger =
    options.log ?? ((message, error) => console.error(`control-plane: ${message}:`, error));
  const nats = await connectNats(options.nats, "dispatch-control-plane");
  // What a failed start must undo, last first. The connection comes first:
  // it never gives up reconnecting, so a start that leaves it open never ends.
  const undo: Array<() => Promise<void>> = [() => nats.close()];
  try {
    return await startOn(nats, options, log, undo);
  } catch (err) {
    for (const step of undo.reverse()) {
      await step().catch((cleanup: unknown) => log("cleaning up after a failed start", cleanup));
    }
    throw err;
  }
}

async function startOn(
  nats: NatsConnection,
  options: ControlPlaneOptions,
  log: ErrorLogger,
  undo: Array<() => Promise<void>>,
): Promise<ControlPlane> {
  const natsUrl = natsDisplayUrl(options.nats);
  const natsHealth = trackNatsHealth(nats, "the control plane");
  const js = jetstream(nats);
  shareHealth(js, natsHealth);
  const kvm = new Kvm(js);
  const replicas = options.replicas ?? 1;
  // Make sure JetStream answers before anything else, with a clear error if not.
  const jsm = await jetstreamManager(nats).catch((err: unknown) => {
    throw new ConfigurationError(`NATS at ${natsUrl} has no JetStream: start nats-server with -js`, {
      cause: err,
    });
  });

  const open = async <T extends Resource>(kind: Kind<T>) =>
    new ResourceStore<T>(
      await kvm.create(kind.bucket, { history: 1, replicas }),
      js,
      kind.bucket,
      kind.codec,
    );

  const sealer = createSealer(options.secretKey);
  await checkSecretKey(await kvm.create("system", { history: 1, replicas }), sealer);
  const secretKind = createSecretKind(sealer);
  const stores: KindStores = {
    functions: await open(functionKind),
    endpoints: await open(endpointKind),
    subscriptions: await open(subscriptionKind),
    secrets: await open(secretKind),
    organizations: await open(organizationKind),
  };
  await ensureDefaultOrg(stores.organizations);

  const rules = createOrgRules(stores.organizations, [
    stores.functions,
    stores.endpoints,
    stores.subscriptions,
    stores.secrets,
  ]);
  const orgs = new OrgDirectory(stores.organizations, log);
  undo.push(() => orgs.close());
  await orgs.start();
  const endpointChecks = new EndpointChecks(stores.endpoints, log, options.maxEndpointsPerOrg);
  undo.push(() => endpointChecks.close());
  await endpointChecks.start();
  const tokens = new TokenRegistry(await kvm.create("tokens", { history: 1, replicas }), {
    signingKey: tokenSigningKey(options.secretKey),
    orgs,
    log,
    onReconnect: natsHealth.onReconnect,
  });
  undo.push(() => tokens.close());
  await tokens.start();
  for (const t of options.bootstrapTokens ?? []) {
    const uid = t.org ? await rules.orgUid(t.org) : "";
    await tokens.ensure(t.name, t.secret, t.role, t.org, uid);
  }
  tokens.reportIgnored();
  const functions = await startFunctions({
    nats,
    js,
    jsm,
    natsHealth,
    replicas,
    functions: stores.functions,
    secrets: stores.secrets,
    authenticate: (token) => tokens.authenticate(token),
    credentials: createInstanceCredentials(options.secretKey),
    log,
    ...(options.workDir === undefined ? {} : { workDir: options.workDir }),
    ...(options.maxBundleBytes === undefined ? {} : { maxBundleBytes: options.maxBundleBytes }),
    ...(options.functionLimits === undefined ? {} : { limits: options.functionLimits }),
    ...(options.runRetention === undefined ? {} : { runRetention: options.runRetention }),
    ...(options.functionDefaults === undefined ? {} : { defaults: options.functionDefaults }),
    ...(options.driver === undefined ? {} : { driver: options.driver }),
    ...(options.leader === undefined ? {} : { leader: options.leader }),
    ...(options.isolation === undefined ? {} : { isolation: options.isolation }),
    ...(options.activatorPort === undefined ? {} : { activatorPort: options.activatorPort }),
    ...(options.activatorHost === undefined ? {} : { activatorHost: options.activatorHost }),
  });
  undo.push(() => functions.close());

  const shutdown = new AbortController();
  // Every call in flight listens on the shutdown signal; there can be thousands.
  setMaxListeners(0, shutdown.signal);
  const server = { url: "" };
  const components = listComponents({
    apiUrl: () => server.url,
    functions,
    natsUrl,
    natsHealth,
    ...(options.components ? { others: options.components } : {}),
  });
  const errors = controlPlaneErrors(log);
  const health = createHealthAnswers([{ name: "nats", problem: () => natsHealth.problem() }]);
  const adapter = connectNodeAdapter({
    routes: createRoutes({
      stores,
      secretKind,
      rules,
      tokens,
      functions,
      pageSize: { ...defaultPageSize, ...options.pageSize },
      endpointChecks,
      maxSubscriptionsPerOrg: options.maxSubscriptionsPerOrg ?? defaultMaxSubscriptionsPerOrg,
      version: options.version ?? "0.0.0-dev",
      components,
    }),
    // Status and reflection answer without NATS. The error interceptor comes last, closest
    // to the handlers: every error a handler throws is a ConnectError before the gate sees it.
    interceptors: [
      createNatsGate(
        natsHealth,
        new Set([SystemService.typeName, ...servedServices.filter((name) => name.includes("reflection"))]),
        errors,
      ),
      createErrorInterceptor(errors),
    ],
    // Bundles travel in one message: allow twice the limit so the service can
    // answer an oversized one with its own message.
    readMaxBytes: 2 * functions.maxBundleBytes + 1024 * 1024,
    shutdownSignal: shutdown.signal,
    requestGate: createRequestGate({
      authenticate: (token) => tokens.authenticate(token),
      key: principalKey,
      ...(options.authHint ? { hint: options.authHint } : {}),
    }),
    fallback(req, res) {
      // /healthz: the process answers (liveness). /readyz: it can serve calls, which needs NATS.
      if (health(req, res)) return;
      // GET /bundles/<digest>: a pod's bundle, for its instance credential only.
      if (functions.serveBundle(req, res)) return;
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found: this is the Dispatch API; use the dispatch CLI or a Connect/gRPC client\n");
    },
  });

  const host = options.host ?? "127.0.0.1";
  const listening = await listenDual(adapter, host, options.port ?? 8080);
  let closing: Promise<void> | undefined;
  server.url = `http://${host.includes(":") ? `[${host}]` : host}:${listening.port}`;

  return {
    url: server.url,
    port: listening.port,
    nats,
    natsHealth,
    urls: () => Object.fromEntries(components().map((c) => [c.name, c.url])),
    isolation: functions.isolation,
    close(graceMs = 5000) {
      closing ??= stop(graceMs);
      return closing;
    },
  };

  async function stop(graceMs: number): Promise<void> {
    // Refuse new calls, let unary calls finish; end every watch stream cleanly.
    const stopped = listening.close(graceMs);
    shutdown.abort(new ConnectError("the control plane is shutting down", Code.Unavailable));
    await stopped;
    // Then the function machinery: no new HTTP calls, finish async runs, stop workers.
    await functions.close();
    await tokens.close();
    await orgs.close();
    await endpointChecks.close();
    // Draining needs the server; without one there is nothing left to flush.
    if (natsHealth.unavailable()) await nats.close();
    else await nats.drain();
  }
}
