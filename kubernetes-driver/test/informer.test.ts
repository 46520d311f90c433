import { type FakeKube, type StartFakeKubeOptions, startFakeKube } from "@dispatch/testkit";
import test, { type ExecutionContext } from "ava";
import { connectKube, type KubeApi, KubeApiError } from "../src/index.js";
import {
  type Informer,
  type InformerChange,
  type InformerOptions,
  type KubeObject,
  startInformer,
} from "../src/informer.js";

// The informer against the fake API server: ConfigMaps stand for the pods and
// EndpointSlices the driver follows. Every wait is on something the informer
// or the fake reports, with a generous bound; faults come from the fake
// (dropped watches, compaction, refused requests).

/** How long a test waits for something before it fails: generous, for a loaded 2-core machine. */
const bound = 60_000;
const namespace = "default";
const path = `/api/v1/namespaces/${namespace}/configmaps`;

async function startKube(t: ExecutionContext, options: StartFakeKubeOptions = {}): Promise<FakeKube> {
  const kube = await startFakeKube(options);
  t.teardown(() => kube.close());
  return kube;
}

async function client(kube: FakeKube): Promise<KubeApi> {
  return await connectKube({ kubeconfig: kube.kubeconfigPath, env: {} });
}

/** A change as a test compares it: the ConfigMap's name and its `v` (and the previous `v` when modified). */
interface Told {
  type: InformerChange["type"];
  name: string;
  v: string | undefined;
  previous?: string | undefined;
}

const vOf = (object: KubeObject) => (object.data as { v?: string } | undefined)?.v;

function told(change: InformerChange): Told {
  const name = String(change.object.metadata?.name);
  if (change.type === "modified")
    return { type: change.type, name, v: vOf(change.object), previous: vOf(change.previous) };
  return { type: change.type, name, v: vOf(change.object) };
}

/** An informer and what it told, with a way to wait for what it tells. */
interface Follower {
  informer: Informer;
  changes: Told[];
  logs: string[];
  /** Resolves once `check` holds, looked at on every change and log line; fails after {@link bound}. */
  until(check: () => boolean, what: string): Promise<void>;
  /** Resolves once the ConfigMap `name` was told as `type`. */
  told(type: Told["type"], name: string): Promise<void>;
}

function follow(t: ExecutionContext, api: KubeApi, more: Partial<InformerOptions> = {}): Follower {
  const changes: Told[] = [];
  const logs: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const informer = startInformer({
    api,
    path,
    onChange(change) {
      changes.push(told(change));
      wake();
    },
    log(message) {
      logs.push(message);
      wake();
    },
    ...more,
  });
  t.teardown(() => informer.close());
  const until = (check: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      if (check()) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`waited ${bound} ms for ${what}; told ${JSON.stringify(changes)}; logged ${logs}`));
      }, bound);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve();
      };
      waiters.add(waiter);
    });
  return {
    informer,
    changes,
    logs,
    until,
    told: (type, name) =>
      until(() => changes.some((c) => c.type === type && c.name === name), `${name} to be told ${type}`),
  };
}

/** ConfigMaps in the namespace, written through the API as another client would. */
function configMaps(api: KubeApi, ns = namespace) {
  const at = `/api/v1/namespaces/${ns}/configmaps`;
  return {
    create: (name: string, v: string) =>
      api.request({ method: "POST", path: at, body: { metadata: { name }, data: { v } } }),
    update: (name: string, v: string) =>
      api.request({
        method: "PATCH",
        path: `${at}/${name}`,
        body: { data: { v } },
        contentType: "application/merge-patch+json",
      }),
    delete: (name: string) => api.request({ method: "DELETE", path: `${at}/${name}` }),
  };
}

/**
 * Keeps watches of the namespace's ConfigMaps from coming back: every watch
 * request is refused (503) until `release`, which uses up the faults left
 * with watches of its own. Informers under test retry at most once a second,
 * so the 120 faults outlast anything a test does meanwhile.
 */
function holdWatches(kube: FakeKube, api: KubeApi): { release(): Promise<void> } {
  kube.failRequests(
    { verb: "watch", resource: "configmaps", namespace },
    { code: 503, message: "held down by the test" },
    120,
  );
  return {
    async release() {
      for (;;) {
        try {
          // Refused while faults are left; once they are used up, a watch that ends after a second.
          await api.request({
            method: "GET",
            path,
            query: { watch: true, resourceVersion: String(kube.resourceVersion), timeoutSeconds: 1 },
          });
          return;
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 503)) throw err;
        }
      }
    },
  };
}

/** Retries once a second, so that a test's faults are not used up by a fast loop. */
const steadyBackoff = { backoff: { minMs: 1_000, maxMs: 1_000 } };

const names = (informer: Informer) =>
  informer
    .list()
    .map((o) => String(o.metadata?.name))
    .sort();

test("informer: the first list is told as added, then every change in order", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  const maps = configMaps(api);
  await maps.create("b", "b1");
  await maps.create("a", "a1");
  await maps.create("c", "c1");
  const f = follow(t, api);
  await f.informer.synced;
  t.deepEqual(f.changes, [
    { type: "added", name: "a", v: "a1" },
    { type: "added", name: "b", v: "b1" },
    { type: "added", name: "c", v: "c1" },
  ]);
  t.is(f.informer.relists(), 1);

  await maps.update("b", "b2");
  await maps.delete("a");
  await maps.create("d", "d1");
  await maps.update("b", "b3");
  await f.told("added", "d");
  await f.until(() => f.changes.length === 7, "the second change of b");
  t.deepEqual(f.changes.slice(3), [
    { type: "modified", name: "b", v: "b2", previous: "b1" },
    { type: "deleted", name: "a", v: "a1" },
    { type: "added", name: "d", v: "d1" },
    { type: "modified", name: "b", v: "b3", previous: "b2" },
  ]);
  t.deepEqual(names(f.informer), ["b", "c", "d"]);
  t.is(vOf(f.informer.get("b") ?? {}), "b3");
  t.is(f.informer.get("a"), undefined);
  t.is(f.informer.relists(), 1, "one list: the rest came by the watch");
});

test("informer: a label selector limits what it lists and watches", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  const create = (name: string, labels: Record<string, string>) =>
    api.request({ method: "POST", path, body: { metadata: { name, labels }, data: { v: name } } });
  await create("mine", { app: "x" });
  await create("other", { app: "y" });
  const f = follow(t, api, { labelSelector: "app=x" });
  await f.informer.synced;
  await create("other-2", { app: "y" });
  await create("mine-2", { app: "x" });
  await f.told("added", "mine-2");
  t.deepEqual(
    f.changes.map((c) => c.name),
    ["mine", "mine-2"],
  );
});

for (const how of ["end", "reset"] as const) {
  test(`informer: a watch ${how === "end" ? "ended by the server" : "whose connection breaks"} resumes where it was: nothing told twice, nothing missed`, async (t) => {
    const kube = await startKube(t);
    const api = await client(kube);
    const maps = configMaps(api);
    await maps.create("a", "a1");
    const f = follow(t, api, steadyBackoff);
    await f.informer.synced;
    await maps.create("b", "b1");
    await f.told("added", "b");

    // Dropped, and a change made at once: before or after the watch is back, it is told once.
    t.is(kube.dropWatches({ resource: "configmaps", how }), 1);
    await maps.create("c", "c1");
    await f.told("added", "c");
    await kube.watchOpened("configmaps", 2);

    // Dropped and kept down while things change: told once it is back.
    const held = holdWatches(kube, api);
    t.is(kube.dropWatches({ resource: "configmaps", how }), 1);
    await maps.create("d", "d1");
    await maps.update("a", "a2");
    await maps.delete("b");
    await held.release();
    await f.told("deleted", "b");

    t.deepEqual(f.changes, [
      { type: "added", name: "a", v: "a1" },
      { type: "added", name: "b", v: "b1" },
      { type: "added", name: "c", v: "c1" },
      { type: "added", name: "d", v: "d1" },
      { type: "modified", name: "a", v: "a2", previous: "a1" },
      { type: "deleted", name: "b", v: "b1" },
    ]);
    t.deepEqual(names(f.informer), ["a", "c", "d"]);
    t.is(f.informer.relists(), 1, "resumed from its version, never listed again");
  });
}

test("informer: after 410 Gone it lists again and tells only the difference: deleted, modified, added", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  const maps = configMaps(api);
  for (const name of ["a", "b", "c"]) await maps.create(name, `${name}1`);
  const f = follow(t, api, steadyBackoff);
  await f.informer.synced;
  t.is(f.changes.length, 3);
  await kube.watchOpened("configmaps");

  // Down while things change, and the history compacted meanwhile: its version is too old.
  const held = holdWatches(kube, api);
  t.is(kube.dropWatches({ resource: "configmaps" }), 1);
  await maps.delete("a");
  await maps.update("b", "b2");
  await maps.create("d", "d1");
  kube.compact();
  await held.release();
  await f.told("added", "d");

  t.deepEqual(f.changes.slice(3), [
    { type: "deleted", name: "a", v: "a1" },
    { type: "modified", name: "b", v: "b2", previous: "b1" },
    { type: "added", name: "d", v: "d1" },
  ]);
  t.deepEqual(names(f.informer), ["b", "c", "d"]);
  t.is(f.informer.relists(), 2, "the first list and the one after 410");

  // And it watches from the new list's version.
  await maps.update("c", "c2");
  await f.told("modified", "c");
  t.is(f.changes.length, 7);
  t.is(f.informer.relists(), 2);
});

test("informer: a failing list is retried until it works, logged once, and working again once it lists", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  await configMaps(api).create("a", "a1");
  kube.failRequests({ verb: "list", resource: "configmaps" }, { code: 500 }, 3);
  const f = follow(t, api, { backoff: { minMs: 20, maxMs: 100 } });
  await f.informer.synced;
  t.deepEqual(f.changes, [{ type: "added", name: "a", v: "a1" }]);
  const lists = kube.requests.filter((r) => r.verb === "list" && r.resource === "configmaps");
  t.deepEqual(
    lists.map((r) => r.code),
    [500, 500, 500, 200],
  );
  t.is(f.informer.relists(), 1, "failed lists are not counted");
  t.deepEqual(
    f.logs,
    [`listing ${path} failed (retrying)`, `${path}: working again`],
    "three failures logged once; working again once it listed",
  );
});

test("informer: a watch refused again and again is logged once, and working again once it is back", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  const f = follow(t, api, { backoff: { minMs: 20, maxMs: 100 } });
  await f.informer.synced;
  await kube.watchOpened("configmaps");
  kube.failRequests({ verb: "watch", resource: "configmaps" }, { code: 503 }, 3);
  t.is(kube.dropWatches({ resource: "configmaps" }), 1);
  await kube.watchOpened("configmaps", 2);
  const refused = kube.requests.filter((r) => r.verb === "watch" && r.code === 503);
  t.is(refused.length, 3);
  t.deepEqual(f.logs, [`watching ${path} failed (retrying)`], "a refused watch is no sign of working");
  await configMaps(api).create("a", "a1");
  await f.told("added", "a");
  t.deepEqual(f.logs, [`watching ${path} failed (retrying)`, `${path}: working again`]);
  t.is(f.informer.relists(), 1);
});

test("informer: close() stops it: its watch is gone and it sends nothing more", async (t) => {
  const kube = await startKube(t, { namespaces: ["other"] });
  const api = await client(kube);
  const closed = follow(t, api);
  // A twin on another namespace, to know when the closed one would have acted.
  const twin = follow(t, api, {
    path: "/api/v1/namespaces/other/configmaps",
  });
  await Promise.all([closed.informer.synced, twin.informer.synced]);
  await kube.watchOpened("configmaps", 2);

  closed.informer.close();
  const watching = () => kube.watches().some((w) => w.namespace === namespace);
  await kube.until(() => !watching());
  const sent = () => kube.requests.filter((r) => r.namespace === namespace).length;
  const before = sent();

  // What would make a live informer act: a change, and its watch dropped.
  await configMaps(api).create("a", "a1");
  await configMaps(api, "other").create("x", "x1");
  await twin.told("added", "x");
  t.is(kube.dropWatches({ resource: "configmaps" }), 1, "only the twin's watch was open");
  await kube.watchOpened("configmaps", 3);
  await configMaps(api, "other").create("y", "y1");
  await twin.told("added", "y");

  t.is(sent(), before + 1, "only the test's own create in the closed informer's namespace");
  t.deepEqual(closed.changes, [], "nothing told after close");
  t.false(watching());
});

test("informer: close() during a retry's wait ends it at once, without one more request", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  kube.failRequests({ verb: "list", resource: "configmaps" }, { code: 500 }, 1000);
  // The first retry would come after a minute: only close() can end the wait.
  const f = follow(t, api, { backoff: { minMs: 60_000, maxMs: 60_000 } });
  await f.until(() => f.logs.length === 1, "the failed list to be logged");
  f.informer.close();
  // Had close() let it go on, it would have listed again at once: before the test's requests below are answered.
  const lists = () =>
    kube.requests.filter((r) => r.verb === "list" && r.resource === "configmaps" && r.namespace === namespace)
      .length;
  t.is(lists(), 1);
  for (let i = 0; i < 3; i++)
    await api.request({ method: "GET", path: "/api/v1/namespaces/kube-public/secrets" });
  t.is(lists(), 1, "no list after close");
  t.deepEqual(f.changes, []);
});
