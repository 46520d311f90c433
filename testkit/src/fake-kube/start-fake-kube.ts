import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApiHandler } from "./api-handler.js";
import { type ClusterOptions, type FakeCluster, startCluster } from "./cluster/simulated-cluster.js";
import type { JsonObject } from "./json.js";
import { type Kubeconfig, kubeconfigFor, writeKubeconfig } from "./kubeconfig.js";
import { ObjectStore } from "./object-store.js";
import { RequestFaults, type RequestMatch, type RequestRecord } from "./request-faults.js";
import { type ResourceType, resourceTypes } from "./resource-types.js";
import { makeServingCertificate } from "./serving-certificate.js";
import { KubeStatusError } from "./status-error.js";
import type { OpenWatch } from "./watch-stream.js";

/** Options of {@link startFakeKube}. */
export interface StartFakeKubeOptions {
  /** The bearer token requests must carry (default: random). */
  token?: string;
  /** How many changes watches can resume from (default 10000); older resourceVersions get 410 Gone. */
  historySize?: number;
  /** How often watches that allow bookmarks get one (default 60 s, as a real server; 0: only on `bookmark()`). */
  bookmarkIntervalMs?: number;
  /** Namespaces to create besides default, kube-system, kube-public and kube-node-lease. */
  namespaces?: string[];
  /**
   * Serve HTTPS with a self-signed certificate that the kubeconfig trusts (default
   * true, as a real API server; needs openssl), or plain HTTP (the kubeconfig then
   * sets skipTLSVerify, which client-node requires for http URLs).
   */
  tls?: boolean;
  /** Run the simulated controllers and kubelet (`true` for the defaults). Off by default: an API server only. */
  cluster?: boolean | ClusterOptions;
}

/** An open watch, as {@link FakeKube.watches} lists it. */
export interface WatchInfo {
  resource: string;
  namespace: string | undefined;
  allowBookmarks: boolean;
}

/** A fault to answer requests with: a status code, and optionally the reason and message of its Status. */
export interface InjectedFault {
  code: number;
  reason?: string;
  message?: string;
}

/** A fake Kubernetes API server started for a test. */
export interface FakeKube {
  /** https://127.0.0.1:PORT (http:// with `tls: false`) */
  url: string;
  token: string;
  /** The PEM certificate the server presents (undefined with `tls: false`). */
  caPem: string | undefined;
  /** For client-node: `kc.loadFromOptions(kube.kubeconfig)`. */
  kubeconfig: Kubeconfig;
  /** The same as a kubeconfig file (for `KUBECONFIG`, `kc.loadFromFile`); removed by `close()`. */
  kubeconfigPath: string;
  /** The newest resourceVersion. */
  readonly resourceVersion: number;
  /** A stored object by plural resource name (`deployments`), without going through HTTP; undefined when missing. */
  get(resource: string, namespace: string, name: string): JsonObject | undefined;
  /** The stored objects of a resource, in a namespace or all. */
  list(resource: string, namespace?: string): JsonObject[];
  /** Forgets the watch history, as an etcd compaction does: resuming from any earlier resourceVersion gets 410 Gone. */
  compact(): void;
  /** Sends a BOOKMARK now on every watch that allows them. */
  bookmark(): void;
  /** Ends the open watches (of one resource, or all): cleanly (`end`) or by breaking the connection (`reset`). Returns how many. */
  dropWatches(filter?: { resource?: string; how?: "end" | "reset" }): number;
  /** The watches open now. */
  watches(): WatchInfo[];
  /** Resolves once `count` watches of `resource` have been opened since the server started (default 1). */
  watchOpened(resource: string, count?: number): Promise<void>;
  /**
   * Resolves once `check` holds, looking again after each thing the server
   * sees: a stored object changed, a request answered, a watch opened or
   * closed. No clock: the test's own timeout bounds the wait. A check on
   * a client's state (what it did with an answer) is looked at again at the
   * client's next request.
   */
  until(check: () => boolean): Promise<void>;
  /** Answers the next `times` (default 1) requests matching `match` with the fault, as a Status. */
  failRequests(match: RequestMatch, fault: InjectedFault, times?: number): void;
  /** Every request answered so far (the newest 10000), in order. */
  readonly requests: readonly RequestRecord[];
  /** The simulated cluster, when started with `cluster`. */
  cluster: FakeCluster | undefined;
  close(): Promise<void>;
}

const reasons: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

function typeByResource(resource: string): ResourceType {
  const type = resourceTypes.find((t) => t.resource === resource);
  if (!type)
    throw new Error(
      `the fake API server has no resource "${resource}" (it has ${resourceTypes.map((t) => t.resource).join(", ")})`,
    );
  return type;
}

/**
 * Starts a fake Kubernetes API server on a free loopback port: the real
 * server's semantics for what Dispatch uses (see `ObjectStore`), served over
 * HTTP as `@kubernetes/client-node` expects, with hooks for faults (dropped
 * watches, compaction, failing requests) and, with `cluster`, simulated
 * controllers and a kubelet that turn Deployments into ready pods and
 * EndpointSlices.
 *
 * @example
 * const kube = await startFakeKube({ cluster: { readyDelayMs: 0 } });
 * const kc = new KubeConfig();
 * kc.loadFromOptions(kube.kubeconfig);
 * const apps = kc.makeApiClient(AppsV1Api);
 * try { ... } finally { await kube.close(); }
 */
export async function startFakeKube(options: StartFakeKubeOptions = {}): Promise<FakeKube> {
  const token = options.token ?? randomBytes(24).toString("base64url");
  const store = new ObjectStore({ historySize: options.historySize ?? 10_000 });
  const faults = new RequestFaults();
  const requests: RequestRecord[] = [];
  const open = new Set<OpenWatch>();
  const opened = new Map<string, number>();
  let address = "127.0.0.1:0";
  // Waiters of `until`, looked at again (on a later turn, once the change settled) after each event.
  const untilWaiters = new Set<{
    check: () => boolean;
    resolve: () => void;
    reject: (err: unknown) => void;
  }>();
  let looking = false;
  const poke = () => {
    if (looking || untilWaiters.size === 0) return;
    looking = true;
    setImmediate(() => {
      looking = false;
      for (const waiter of [...untilWaiters]) {
        try {
          if (!waiter.check()) continue;
          untilWaiters.delete(waiter);
          waiter.resolve();
        } catch (err) {
          untilWaiters.delete(waiter);
          waiter.reject(err);
        }
      }
    });
  };
  store.subscribe(poke);
  const until = (check: () => boolean): Promise<void> => {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      untilWaiters.add({ check, resolve, reject });
    });
  };

  const namespaces = typeByResource("namespaces");
  for (const name of [
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    ...(options.namespaces ?? []),
  ]) {
    if (!store.find(namespaces, "", name))
      store.create(namespaces, "", { metadata: { name } }, { fieldManager: "kube-apiserver" });
  }

  const handler = createApiHandler({
    store,
    token,
    faults,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 60_000,
    address: () => address,
    record(request) {
      requests.push(request);
      if (requests.length > 10_000) requests.shift();
      poke();
    },
    watchOpened(watch) {
      open.add(watch);
      const resource = watch.type.resource;
      const count = (opened.get(resource) ?? 0) + 1;
      opened.set(resource, count);
      poke();
      return () => {
        open.delete(watch);
        poke();
      };
    },
  });
  const dir = await mkdtemp(join(tmpdir(), "dispatch-fake-kube-"));
  const tls = options.tls ?? true;
  const certificate = tls ? await makeServingCertificate(dir) : undefined;
  const server = certificate ? createHttpsServer(certificate, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  address = `127.0.0.1:${port}`;
  const url = `${tls ? "https" : "http"}://${address}`;
  const kubeconfig = kubeconfigFor(url, token, certificate?.cert);
  const kubeconfigPath = join(dir, "kubeconfig");
  await writeKubeconfig(kubeconfigPath, kubeconfig);
  const cluster = options.cluster
    ? startCluster(store, options.cluster === true ? {} : options.cluster)
    : undefined;

  return {
    url,
    token,
    caPem: certificate?.cert,
    kubeconfig,
    kubeconfigPath,
    get resourceVersion() {
      return store.resourceVersion;
    },
    get: (resource, namespace, name) => store.find(typeByResource(resource), namespace, name),
    list: (resource, namespace) =>
      store.list(typeByResource(resource), namespace === undefined ? {} : { namespace }).items,
    compact: () => store.compact(),
    bookmark() {
      for (const watch of open) watch.bookmark();
    },
    dropWatches(filter = {}) {
      const chosen = [...open].filter(
        (w) => filter.resource === undefined || w.type.resource === filter.resource,
      );
      for (const watch of chosen) watch.drop(filter.how ?? "end");
      return chosen.length;
    },
    watches: () =>
      [...open].map((w) => ({
        resource: w.type.resource,
        namespace: w.filter.namespace,
        allowBookmarks: w.allowBookmarks,
      })),
    watchOpened(resource, count = 1) {
      typeByResource(resource);
      return until(() => (opened.get(resource) ?? 0) >= count);
    },
    until,
    failRequests(match, fault, times = 1) {
      const reason = fault.reason ?? reasons[fault.code] ?? "InternalError";
      faults.fail(
        match,
        new KubeStatusError(fault.code, reason, fault.message ?? `injected fault: ${reason}`),
        times,
      );
    },
    requests,
    cluster,
    async close() {
      await cluster?.close();
      for (const watch of open) watch.drop("end");
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
