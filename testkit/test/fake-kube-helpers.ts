import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  Watch,
} from "@kubernetes/client-node";
import type { FakeKube } from "../src/index.js";

/** How long a test waits for an event before it fails: generous, for a loaded 2-core machine. */
export const eventBound = 60_000;

/** The official client's APIs, configured from the fake's kubeconfig. */
export function clients(kube: FakeKube) {
  const kc = new KubeConfig();
  kc.loadFromOptions(kube.kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
    watch: new Watch(kc),
  };
}

/** What a failed call answered: the HTTP code and the Status body. */
export interface Failure {
  code: number;
  status: {
    kind?: string;
    status?: string;
    reason?: string;
    message?: string;
    code?: number;
    details?: {
      name?: string;
      group?: string;
      kind?: string;
      causes?: { reason?: string; message?: string; field?: string }[];
    };
  };
}

/** Awaits a call that must fail with an ApiException, and returns its code and parsed Status. */
export async function failure(call: Promise<unknown>): Promise<Failure> {
  try {
    await call;
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    const body = typeof error.body === "string" ? JSON.parse(error.body) : error.body;
    return { code: error.code, status: body };
  }
  throw new Error("the call succeeded; it should have failed");
}

/** One event of a watch. */
export interface WatchEvent {
  type: string;
  // biome-ignore lint/suspicious/noExplicitAny: watch objects are untyped JSON
  object: any;
}

/**
 * Watches `path` with the official client's `Watch` and resolves with the
 * first value `pick` returns for an event (the current state comes first as
 * ADDED events, so nothing already there is missed). Fails after
 * {@link eventBound} with what it saw.
 */
export async function waitForEvent<T>(
  kube: FakeKube,
  path: string,
  pick: (event: WatchEvent) => T | undefined,
  query: Record<string, string> = {},
): Promise<T> {
  const { watch } = clients(kube);
  const seen: string[] = [];
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<T>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching event on ${path} within ${eventBound} ms; saw:\n${seen.slice(-20).join("\n")}`,
            ),
          ),
        eventBound,
      );
      watch
        .watch(
          path,
          query,
          (type, object) => {
            seen.push(`${type} ${object?.metadata?.name} rv=${object?.metadata?.resourceVersion}`);
            const value = pick({ type, object });
            if (value !== undefined) resolve(value);
          },
          (error) => {
            if (error) reject(error);
          },
        )
        .then((c) => {
          controller = c;
        }, reject);
    });
  } finally {
    clearTimeout(timer);
    controller?.abort();
  }
}

/**
 * Opens a raw watch with the official client and collects its events until
 * the stream ends or `stop()` is called.
 */
export async function openWatch(
  kube: FakeKube,
  path: string,
  query: Record<string, string | number | boolean>,
) {
  const { watch } = clients(kube);
  const events: WatchEvent[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let endResolve: (error: unknown) => void = () => {};
  const ended = new Promise<unknown>((resolve) => {
    endResolve = resolve;
  });
  const controller = await watch.watch(
    path,
    query,
    (type, object) => {
      events.push({ type, object });
      for (const w of [...waiters]) {
        if (events.length >= w.count) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
    (error) => endResolve(error),
  );
  return {
    events,
    /** Resolves once `count` events have arrived. */
    received(count: number): Promise<void> {
      if (events.length >= count) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `only ${events.length} of ${count} watch events within ${eventBound} ms: ${JSON.stringify(events.map((e) => e.type))}`,
              ),
            ),
          eventBound,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    /** Settles when the stream has ended, with the error it ended with (null for a clean end). */
    ended,
    stop: () => controller.abort(),
  };
}

/** A Deployment of `replicas` pods labelled app=<name>, with one container serving port 8080. */
export function deployment(
  name: string,
  replicas: number,
  extra: { image?: string; labels?: Record<string, string> } = {},
) {
  const labels = { app: name, ...(extra.labels ?? {}) };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, labels },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: "worker",
              image: extra.image ?? "dispatch/worker:1",
              ports: [{ name: "http", containerPort: 8080 }],
            },
          ],
        },
      },
    },
  };
}

/** A raw HTTPS request to the fake (for what the typed client cannot send, e.g. YAML). */
export async function rawRequest(
  kube: FakeKube,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ code: number; body: string }> {
  const { request } = await import("node:https");
  return await new Promise((resolve, reject) => {
    const req = request(
      `${kube.url}${path}`,
      { method, ca: kube.caPem, headers: { authorization: `Bearer ${kube.token}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Resolves once the object `name` is gone from the collection at `path`:
 * at once when a list does not hold it, else on its DELETED event in a watch
 * from that list's resourceVersion (so a deletion between the two is not missed).
 */
export async function waitUntilGone(kube: FakeKube, path: string, name: string): Promise<void> {
  const listed = await rawRequest(kube, "GET", path);
  const list = JSON.parse(listed.body) as {
    metadata: { resourceVersion: string };
    items: { metadata: { name: string } }[];
  };
  if (!list.items.some((item) => item.metadata.name === name)) return;
  await waitForEvent(
    kube,
    path,
    (e) => (e.type === "DELETED" && e.object.metadata.name === name ? true : undefined),
    {
      resourceVersion: list.metadata.resourceVersion,
    },
  );
}
