import { setMaxListeners } from "node:events";
import { Code, ConnectError } from "@connectrpc/connect";
import { createWatchCache, type DispatchClients } from "@dispatch/client";
import type { Endpoint, EndpointStatus } from "@dispatch/proto";
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import { createReconciler } from "@dispatch/server-kit";
import type { AckEvent, ClientInfo, NackEvent } from "../server/session-types.js";
import type { EndpointProblem } from "../translate/snapshot.js";
import { startXdsServer, type XdsServer, type XdsServerOptions } from "../xds-server.js";
import { createEndpointConfigs } from "./endpoint-configs.js";
import { endpointStatus, sameStatus } from "./endpoint-status.js";
import { endpointUrls } from "./endpoint-urls.js";
import { createRolloutTracker } from "./rollout-tracker.js";
import { createTokenSource } from "./token-source.js";

/** Options of {@link startIngressController}. */
export interface IngressControllerOptions {
  /**
   * Clients of the control plane's API, authenticated with a component token
   * (it reads every org's endpoints and functions and writes endpoint status).
   */
  clients: Pick<DispatchClients, "endpoints" | "functions" | "secrets">;
  /** The xds-server: where it listens, who it serves, how it translates. */
  xds: Omit<XdsServerOptions, "onAck" | "onNack" | "onDisconnect">;
  /**
   * The data plane's public base URLs (`http://127.0.0.1:8081`), from which
   * each endpoint's status lists where it answers; default none.
   */
  publicUrls?: readonly string[];
  /** Told of every ACK (e.g. to learn that a proxy has its first configuration). */
  onAck?(event: AckEvent): void;
  /** Told of every NACK (after it became the endpoints' status). */
  onNack?(event: NackEvent): void;
  /** Failures: a status write that failed, a watch that stopped. */
  log(message: string, error?: unknown): void;
  /** For conditions' transition times; default the clock. */
  now?: () => Date;
}

/** A running ingress controller: the xds-server, fed and reporting. */
export interface IngressController {
  readonly xds: XdsServer;
  /** Resolves once the first complete state is translated and served. */
  readonly synced: Promise<void>;
  /** Resolves when no translation and no status write is pending. */
  idle(): Promise<void>;
  /** Stops following the API, writing status, and serving ADS. */
  close(): Promise<void>;
}

const typeUrls = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL];

/**
 * The xds-server as a controller of the Dispatch API: it follows Endpoints
 * and Functions through watch caches (list + watch, resumed across
 * reconnects; never polled), translates every change into the configuration
 * every proxy is served, and writes each endpoint's status back through
 * `UpdateStatus`: accepted or why not, whether its functions exist and are
 * ready, and READY only once every connected data plane has ACKed a
 * configuration that carries it (a NACK becomes its ERROR, with the proxy's
 * message).
 */
export async function startIngressController(options: IngressControllerOptions): Promise<IngressController> {
  const stop = new AbortController();
  const signal = stop.signal;
  // Every watch and every status write in flight listens to it.
  setMaxListeners(0, signal);
  const now = options.now ?? (() => new Date());
  const endpoints = createWatchCache({
    client: options.clients.endpoints,
    request: { allOrgs: true },
    signal,
  });
  const functions = createWatchCache({
    client: options.clients.functions,
    request: { allOrgs: true },
    signal,
  });
  // Secrets without their values: a change tells which token secret to read again.
  const secrets = createWatchCache({ client: options.clients.secrets, request: { allOrgs: true }, signal });
  const tokens = createTokenSource(options.clients.secrets, options.xds.translation.defaultOrg ?? "default");
  const listenerName = options.xds.translation.listener?.name ?? "dispatch-http";
  /** A client that serves endpoints: one that ACKed the HTTP listener (a gRPC client reading clusters is not). */
  const isDataPlane = (client: ClientInfo) => client.acked.get(LISTENER_TYPE_URL)?.has(listenerName) ?? false;
  const tracker = createRolloutTracker(isDataPlane);
  // Each endpoint's part of the served configuration, kept from one translation to the next.
  const configsOf = createEndpointConfigs();
  let problems = new Map<string, EndpointProblem[]>();
  let urls = new Map<string, string[]>();
  let translated = false;

  /**
   * Which statuses to look at again. An endpoint's status changes with its
   * object (the reconciler's own events), its problems, its configuration,
   * its URLs, and its rollout: at an ACK only the rollouts not yet applied
   * everywhere can move, unless the set of data planes changed, which changes
   * every status. So a change of one endpoint among 10,000 looks at that one
   * (and those still rolling out), not at all of them.
   */
  const dirty = new Set<string>();
  /** Endpoints whose configuration had not reached every data plane (or was refused) at their last look. */
  const unsettled = new Set<string>();
  /** The data planes at the last look, by node id; undefined before the first. */
  let dataPlanes: string | undefined;

  const xds = await startXdsServer({
    ...options.xds,
    onAck: (event) => {
      scheduleStatus();
      options.onAck?.(event);
    },
    // A proxy that left no longer holds anything back (nor serves anything).
    onDisconnect: () => scheduleStatus(),
    onNack: (event) => {
      for (const endpoint of tracker.rejected(event)) dirty.add(endpoint);
      scheduleStatus();
      options.onNack?.(event);
    },
  });

  const statuses = createReconciler<Endpoint, { object: Endpoint; status: EndpointStatus }>({
    events: endpoints.events({ signal }),
    reconcile: async ({ object, key }) => {
      if (!object || !translated) {
        unsettled.delete(key);
        return undefined;
      }
      const rollout = tracker.rollout(key, xds.clients());
      // Only a rollout still under way can move at an ACK.
      if (rollout?.state === "pending" || rollout?.state === "rejected") unsettled.add(key);
      else unsettled.delete(key);
      const status = endpointStatus(object, problems.get(key) ?? [], rollout, now(), urls.get(key) ?? []);
      return sameStatus(object.status, status) ? undefined : { object, status };
    },
    writeStatus: async (_key, { object, status }) => {
      try {
        await options.clients.endpoints.updateStatus({ endpoint: { meta: object.meta, status } }, { signal });
      } catch (err) {
        // Gone meanwhile: nothing to report on.
        if (err instanceof ConnectError && err.code === Code.NotFound) return;
        // Changed since it was read (often by this controller's own last write, not yet
        // through the watch): the newer object comes through the watch and is looked at then.
        if (err instanceof ConnectError && err.code === Code.Aborted) return;
        throw err;
      }
    },
    log: options.log,
  });

  let rebuildWanted = false;
  let building: Promise<void> | undefined;
  let statusPending = false;
  const rebuild = async () => {
    const endpointList = endpoints.list();
    try {
      await tokens.load(endpointList, signal);
    } catch (err) {
      if (signal.aborted) return;
      // Served as known: an endpoint whose secret could not be read refuses every call, and says so.
      options.log("token secrets could not be read; token-auth endpoints refuse calls until they are", err);
    }
    if (signal.aborted) return;
    try {
      const update = xds.update({
        endpoints: endpointList,
        functions: functions.list(),
        tokens: (org, secret) => tokens.tokens(org, secret),
      });
      const grouped = new Map<string, EndpointProblem[]>();
      for (const problem of update.problems) {
        const list = grouped.get(problem.endpoint) ?? [];
        list.push(problem);
        grouped.set(problem.endpoint, list);
      }
      markChanged(problems, grouped, (a, b) => JSON.stringify(a) === JSON.stringify(b));
      problems = grouped;
      const versions = new Map<string, Map<string, string>>();
      for (const typeUrl of typeUrls) {
        versions.set(typeUrl, new Map([...xds.cache.get(typeUrl)].map(([name, r]) => [name, r.version])));
      }
      for (const endpoint of tracker.served(versions, configsOf(update.translation))) dirty.add(endpoint);
      const nextUrls = endpointUrls(update.translation, options.publicUrls ?? []);
      markChanged(urls, nextUrls, sameStrings);
      urls = nextUrls;
      translated = true;
    } catch (err) {
      // What was served before stays served.
      options.log("the ingress configuration could not be translated; the previous one is still served", err);
    }
    enqueueChanged();
  };
  /** Marks the endpoints whose entry differs between two maps (problems, URLs). */
  const markChanged = <V>(
    before: ReadonlyMap<string, V>,
    after: ReadonlyMap<string, V>,
    same: (a: V, b: V) => boolean,
  ) => {
    for (const [key, value] of after) {
      const was = before.get(key);
      if (was === undefined || !same(was, value)) dirty.add(key);
    }
    for (const key of before.keys()) if (!after.has(key)) dirty.add(key);
  };
  /** Translates again soon; changes that arrive meanwhile are taken in one more pass. */
  const scheduleRebuild = () => {
    rebuildWanted = true;
    building ??= (async () => {
      await new Promise((resolve) => setImmediate(resolve));
      while (rebuildWanted && !signal.aborted) {
        rebuildWanted = false;
        await rebuild();
      }
      building = undefined;
    })();
  };
  const enqueueChanged = () => {
    statusPending = false;
    if (signal.aborted) return;
    const planes = xds
      .clients()
      .filter(isDataPlane)
      .map((client) => client.node.id)
      .sort()
      .join("\n");
    const keys =
      planes !== dataPlanes
        ? endpoints.list().map((endpoint) => endpoints.keyOf(endpoint))
        : [...unsettled, ...dirty];
    dataPlanes = planes;
    dirty.clear();
    for (const key of keys) statuses.enqueue(key);
  };
  const scheduleStatus = () => {
    if (statusPending || !translated) return;
    statusPending = true;
    setImmediate(enqueueChanged);
  };

  /** Each changed secret is read again (if an endpoint uses it) at the next translation. */
  async function* secretChanges() {
    for await (const batch of secrets.changes({ signal })) {
      for (const change of batch) {
        if (change.type === "synced") continue;
        const meta = change.object.meta;
        tokens.forget(meta?.org ?? "", meta?.name ?? "");
      }
      yield batch;
    }
  }
  /**
   * The endpoint changes that need a translation: created, deleted, or a new
   * spec (generation). A status write (this controller's own, mostly) changes
   * only the revision and status, which the translation does not read.
   */
  async function* specChanges() {
    const generations = new Map<string, bigint>();
    for await (const batch of endpoints.changes({ signal })) {
      let changed = false;
      for (const change of batch) {
        if (change.type === "synced") {
          changed = true;
          continue;
        }
        const generation = change.object.meta?.generation ?? 0n;
        if (change.type === "delete") {
          generations.delete(change.key);
          changed = true;
        } else if (generations.get(change.key) !== generation) {
          generations.set(change.key, generation);
          changed = true;
        }
      }
      if (changed) yield batch;
    }
  }
  const follow = async (changes: AsyncIterable<unknown>, what: string) => {
    try {
      for await (const _batch of changes) scheduleRebuild();
    } catch (err) {
      if (!signal.aborted) options.log(`the watch of ${what} stopped`, err);
    }
  };
  const synced = Promise.all([endpoints.synced, functions.synced, secrets.synced]).then(async () => {
    scheduleRebuild();
    await building;
  });
  const followers = [
    follow(specChanges(), "endpoints"),
    follow(functions.changes({ signal }), "functions"),
    follow(secretChanges(), "secrets"),
  ];
  // A failed first sync is the caller's to see through `synced`; keep it from being unhandled meanwhile.
  synced.catch(() => {});

  return {
    xds,
    synced,
    async idle() {
      while (building || statusPending) {
        await building;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await statuses.idle();
    },
    async close() {
      stop.abort();
      await statuses.close();
      await building;
      await Promise.allSettled([...followers, endpoints.done, functions.done, secrets.done]);
      await xds.close();
    },
  };
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
