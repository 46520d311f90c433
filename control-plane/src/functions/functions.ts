import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Function as FunctionResource, Secret } from "@dispatch/proto";
import type { Driver, DriverFactory, DriverHost, LeaderGate, NatsHealth } from "@dispatch/server-kit";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Principal } from "../auth/principal.js";
import type { ErrorLogger } from "../errors.js";
import { checkScaleLimits } from "../kinds/function.js";
import { startInFlightRuns } from "../store/in-flight-runs.js";
import { LogStore } from "../store/log-store.js";
import type { ResourceStore } from "../store/resource-store.js";
import { defaultRunRetention, type RunRetention, RunStore } from "../store/run-store.js";
import { defaultMaxBundleBytes, SourceStore } from "../store/source-store.js";
import type { Violations } from "../validation/violations.js";
import { type Activator, startActivator } from "./activator.js";
import { BundleCache } from "./bundle-cache.js";
import { createBundleRoute } from "./bundle-route.js";
import type { InstanceCredentialAuthority } from "./instance-credentials.js";
import { InstanceQuota } from "./instance-quota.js";
import { Invoker } from "./invoker.js";
import { type Isolation, type IsolationChoice, openIsolation } from "./isolation/isolation.js";
import { defaultFunctionLimits, type FunctionLimits } from "./limits.js";
import { createLocalDriver } from "./local-driver.js";
import { type FunctionDefaults, functionDefaults, Scheduler } from "./scheduler.js";
import { SchemaCheck } from "./schema-check.js";

/** What {@link startFunctions} needs. */
export interface FunctionsOptions {
  nats: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  natsHealth: NatsHealth;
  replicas: number;
  functions: ResourceStore<FunctionResource>;
  secrets: ResourceStore<Secret>;
  authenticate(token: string): Principal | undefined;
  workDir?: string;
  maxBundleBytes?: number;
  /** Bundle size on disk, scale bounds, instances per org. */
  limits?: Partial<FunctionLimits>;
  runRetention?: Partial<RunRetention>;
  defaults?: Partial<FunctionDefaults>;
  /** Issues and checks instance credentials (from the control plane's secret key). */
  credentials: InstanceCredentialAuthority;
  /** Makes the driver; default the local driver (worker processes on this machine). */
  driver?: DriverFactory;
  /** Only the leader reconciles functions; default: always this one. */
  leader?: LeaderGate;
  /** How the local driver isolates workers; default "auto" (the strongest available). */
  isolation?: IsolationChoice;
  activatorPort?: number;
  /** The activator's interface; default loopback. */
  activatorHost?: string;
  log: ErrorLogger;
}

/** The function machinery of a control plane, wired together. */
export interface Functions {
  sources: SourceStore;
  runs: RunStore;
  logs: LogStore;
  invoker: Invoker;
  scheduler: Scheduler;
  activator: Activator;
  driverName: string;
  /** How workers are isolated, as the driver reports it. */
  isolation: Driver["isolation"];
  maxBundleBytes: number;
  limits: FunctionLimits;
  /** Checks of a function spec that need I/O: its bundle exists, its schemas compile. */
  validate(fn: FunctionResource, v: Violations): Promise<void>;
  /** Removes what belongs to a deleted function (runs, compiled schemas). */
  afterDelete(fn: FunctionResource): Promise<void>;
  /**
   * Serves `GET /bundles/<digest>` to instances that run elsewhere (see
   * `bundle-route.ts`); false for a request that is not for it.
   */
  serveBundle: ReturnType<typeof createBundleRoute>;
  /** Stops taking HTTP calls, finishes async runs, stops every worker. */
  close(): Promise<void>;
}

/**
 * Starts the function machinery: bundles, runs and logs in JetStream, the
 * scheduler over the function store, the invoker and the activator.
 */
export async function startFunctions(options: FunctionsOptions): Promise<Functions> {
  const { js, jsm, replicas, log } = options;
  // First: an isolation asked for that cannot work stops the start before anything else.
  const isolation = options.driver ? undefined : await openIsolation({ choice: options.isolation ?? "auto" });
  const sources = new SourceStore(await new Objm(js).create("sources", { replicas }));
  const maxBundleBytes = options.maxBundleBytes ?? defaultMaxBundleBytes;
  const workDir = options.workDir ?? (await mkdtemp(join(tmpdir(), "dispatch-work-")));
  const limits = { ...defaultFunctionLimits, ...options.limits };
  // A run record is one JetStream message: it must fit the server's max_payload.
  const runs = await RunStore.open(
    js,
    jsm,
    { ...defaultRunRetention, ...options.runRetention },
    replicas,
    () => options.nats.info?.max_payload ?? 1024 * 1024,
  );
  const logs = await LogStore.open(options.nats, js, jsm, replicas, options.natsHealth);
  const schemas = new SchemaCheck();
  const defaults = { ...functionDefaults, ...options.defaults };
  const host: DriverHost = {
    credentials: options.credentials,
    bundles: new BundleCache(join(workDir, "bundles"), sources, limits),
    onLog: (line) => logs.append(line),
  };
  const driver: Driver = options.driver
    ? await options.driver(host)
    : createLocalDriver({ ...host, isolation: isolation as Isolation });
  const scheduler = new Scheduler({
    store: options.functions,
    driver,
    quota: new InstanceQuota(limits.maxInstancesPerOrg),
    defaults,
    ...(options.leader ? { leader: options.leader } : {}),
    log,
    // Calls that were in flight when the function was deleted are done now:
    // purge again so none of their runs outlives the function.
    // A deleted function leaves nothing behind: its output, then its runs, go with
    // it. Unless the name was taken again meanwhile (the old one drained calls in
    // flight first): then what is stored under it may be the new function's.
    onRemoved: async (org, name) => {
      if (scheduler.known(org, name)) return;
      // One after the other (runs last, so no run outlives its lines), each tried.
      let failure: unknown;
      for (const store of [logs, runs])
        await store.deleteFunction(org, name).catch((err: unknown) => (failure ??= err));
      if (failure) throw failure;
    },
  });
  await scheduler.start();
  const inFlight = await startInFlightRuns({
    kvm: new Kvm(js),
    jsm,
    replicas,
    runs,
    health: options.natsHealth,
    log,
  }).catch(async (err: unknown) => {
    await scheduler.close();
    throw err;
  });
  const invoker = new Invoker({
    functions: options.functions,
    secrets: options.secrets,
    scheduler,
    runs,
    schemas,
    defaultTimeoutMs: defaults.timeoutMs,
    inFlight,
    log,
  });
  let activator: Activator;
  try {
    activator = await startActivator(
      invoker,
      options.authenticate,
      options.activatorHost ?? "127.0.0.1",
      options.activatorPort ?? 0,
      () => options.natsHealth.unavailable(),
    );
  } catch (err) {
    await inFlight.close();
    await scheduler.close();
    throw err;
  }

  return {
    sources,
    runs,
    logs,
    invoker,
    scheduler,
    activator,
    driverName: driver.name,
    isolation: driver.isolation,
    maxBundleBytes,
    limits,
    serveBundle: createBundleRoute({
      sources,
      credentials: options.credentials,
      functionUid: (org, name) => scheduler.known(org, name)?.meta?.uid,
      unavailable: () => options.natsHealth.unavailable(),
      log,
    }),
    async validate(fn, v) {
      checkScaleLimits(v, fn, limits);
      const source = fn.spec?.source;
      if (source && !(await sources.has(source.digest))) {
        v.add(
          "spec.source.digest",
          `no uploaded bundle has digest ${source.digest}; upload it first (dispatch create function does)`,
        );
      }
      for (const direction of ["in", "out"] as const) {
        const schema = fn.spec?.schema?.[direction];
        for (const problem of schema ? schemas.problemsOf(schema) : [])
          v.add(`spec.schema.${direction}`, problem);
      }
    },
    async afterDelete(fn) {
      schemas.forget(`${fn.meta?.uid}/`);
      // Its lines go at once, as its runs do (what calls in flight still write goes when
      // its instances have stopped, in onRemoved).
      await logs.deleteFunction(fn.meta?.org ?? "", fn.meta?.name ?? "");
      await runs.deleteFunction(fn.meta?.org ?? "", fn.meta?.name ?? "");
    },
    async close() {
      await activator.close();
      await invoker.drain();
      await inFlight.close();
      await scheduler.close();
    },
  };
}
