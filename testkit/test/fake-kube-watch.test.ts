import { ListWatch } from "@kubernetes/client-node";
import test from "ava";
import { startFakeKube } from "../src/index.js";
import { clients, eventBound, openWatch } from "./fake-kube-helpers.js";

const configMaps = "/api/v1/namespaces/default/configmaps";

test("fake kube watch: from a resourceVersion, every later change in order as ADDED, MODIFIED, DELETED", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  const list = await core.listNamespacedConfigMap({ namespace: "default" });
  const watch = await openWatch(kube, configMaps, { resourceVersion: list.metadata?.resourceVersion ?? "" });
  t.teardown(() => watch.stop());
  const created = await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "a" }, data: { v: "1" } },
  });
  await core.replaceNamespacedConfigMap({
    namespace: "default",
    name: "a",
    body: { ...created, data: { v: "2" } },
  });
  await core.createNamespacedSecret({
    namespace: "default",
    body: { metadata: { name: "not-a-configmap" } },
  });
  await core.deleteNamespacedConfigMap({ namespace: "default", name: "a" });
  await watch.received(3);
  t.deepEqual(
    watch.events.map((e) => [e.type, e.object.kind, e.object.metadata.name, e.object.data?.v]),
    [
      ["ADDED", "ConfigMap", "a", "1"],
      ["MODIFIED", "ConfigMap", "a", "2"],
      ["DELETED", "ConfigMap", "a", "2"],
    ],
  );
  const versions = watch.events.map((e) => Number(e.object.metadata.resourceVersion));
  t.true(versions[0] === Number(created.metadata?.resourceVersion));
  t.true(
    (versions[1] ?? 0) > (versions[0] ?? 0) && (versions[2] ?? 0) > (versions[1] ?? 0) + 1,
    "the secret's write took a version in between",
  );

  // A second watch from the first event's version replays what came after it.
  const replay = await openWatch(kube, configMaps, { resourceVersion: String(versions[0]) });
  t.teardown(() => replay.stop());
  await replay.received(2);
  t.deepEqual(
    replay.events.map((e) => e.type),
    ["MODIFIED", "DELETED"],
  );
});

test("fake kube watch: without a resourceVersion it starts with the current state; a filtered watch sees objects enter and leave", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "blue-1", labels: { color: "blue" } } },
  });
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "red-1", labels: { color: "red" } } },
  });
  const watch = await openWatch(kube, configMaps, { labelSelector: "color=blue" });
  t.teardown(() => watch.stop());
  await watch.received(1);
  t.deepEqual(watch.events[0] && [watch.events[0].type, watch.events[0].object.metadata.name], [
    "ADDED",
    "blue-1",
  ]);
  const red = await core.readNamespacedConfigMap({ namespace: "default", name: "red-1" });
  await core.replaceNamespacedConfigMap({
    namespace: "default",
    name: "red-1",
    body: { ...red, metadata: { ...red.metadata, labels: { color: "blue" } } },
  });
  const blue = await core.readNamespacedConfigMap({ namespace: "default", name: "blue-1" });
  await core.replaceNamespacedConfigMap({
    namespace: "default",
    name: "blue-1",
    body: { ...blue, metadata: { ...blue.metadata, labels: { color: "green" } } },
  });
  await watch.received(3);
  t.deepEqual(
    watch.events.map((e) => [e.type, e.object.metadata.name, e.object.metadata.labels.color]),
    [
      ["ADDED", "blue-1", "blue"],
      ["ADDED", "red-1", "blue"],
      ["DELETED", "blue-1", "green"],
    ],
  );
});

test("fake kube watch: bookmarks carry the newest resourceVersion, only when asked for", async (t) => {
  const kube = await startFakeKube({ bookmarkIntervalMs: 0 });
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  const list = await core.listNamespacedConfigMap({ namespace: "default" });
  const rv = list.metadata?.resourceVersion ?? "";
  const withBookmarks = await openWatch(kube, configMaps, {
    resourceVersion: rv,
    allowWatchBookmarks: true,
    labelSelector: "app=x",
  });
  const without = await openWatch(kube, configMaps, { resourceVersion: rv, labelSelector: "app=x" });
  t.teardown(() => withBookmarks.stop());
  t.teardown(() => without.stop());
  await kube.watchOpened("configmaps", 2);
  // Changes the filtered watches do not see move the resourceVersion on; a bookmark tells them.
  await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "unrelated" } } });
  kube.bookmark();
  await withBookmarks.received(1);
  const bookmark = withBookmarks.events[0];
  t.is(bookmark?.type, "BOOKMARK");
  t.is(bookmark?.object.kind, "ConfigMap");
  t.is(bookmark?.object.metadata.resourceVersion, String(kube.resourceVersion));
  t.true(Number(bookmark?.object.metadata.resourceVersion) > Number(rv));
  // The watch without bookmarks got nothing: the next event it sees is a real one.
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "x", labels: { app: "x" } } },
  });
  await without.received(1);
  t.deepEqual(
    without.events.map((e) => e.type),
    ["ADDED"],
  );
});

test("fake kube watch: a resourceVersion older than the history is an ERROR event with a 410 Expired Status", async (t) => {
  const kube = await startFakeKube({ historySize: 5 });
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  const start = kube.resourceVersion;
  for (let i = 0; i < 8; i++)
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: `cm-${i}` } } });
  const watch = await openWatch(kube, configMaps, { resourceVersion: String(start) });
  await watch.received(1);
  t.is(await watch.ended, null, "the server ends the stream after the error");
  t.is(watch.events.length, 1);
  t.is(watch.events[0]?.type, "ERROR");
  t.like(watch.events[0]?.object, { kind: "Status", status: "Failure", reason: "Expired", code: 410 });
  t.regex(watch.events[0]?.object.message, /too old resource version/);

  // Within the history a resume still works; after a compaction it no longer does.
  const recent = kube.resourceVersion - 2;
  const ok = await openWatch(kube, configMaps, { resourceVersion: String(recent) });
  await ok.received(2);
  t.deepEqual(
    ok.events.map((e) => e.type),
    ["ADDED", "ADDED"],
  );
  ok.stop();
  kube.compact();
  const compacted = await openWatch(kube, configMaps, { resourceVersion: String(recent) });
  await compacted.received(1);
  t.is(compacted.events[0]?.object.code, 410);
});

test("fake kube watch: the official ListWatch resumes after a dropped watch, stops on an error, and relists after 410 Gone", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { core, watch } = clients(kube);
  await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "before" } } });
  const informer = new ListWatch(
    configMaps,
    watch,
    () => core.listNamespacedConfigMap({ namespace: "default" }),
    false,
  );
  const added: string[] = [];
  const deleted: string[] = [];
  const waiters: { name: string; resolve: () => void }[] = [];
  const seen = (name: string) =>
    new Promise<void>((resolve, reject) => {
      if (added.includes(name)) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`${name} never arrived; saw ${added.join(",")}`)),
        eventBound,
      );
      waiters.push({
        name,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  let failed: (error: unknown) => void = () => {};
  const errored = new Promise<unknown>((resolve) => {
    failed = resolve;
  });
  informer.on("add", (obj) => {
    added.push(obj.metadata?.name ?? "");
    for (const w of [...waiters]) if (w.name === obj.metadata?.name) w.resolve();
  });
  informer.on("delete", (obj) => deleted.push(obj.metadata?.name ?? ""));
  informer.on("error", (error) => failed(error));
  t.teardown(() => informer.stop());
  await informer.start();
  await kube.watchOpened("configmaps", 1);
  await seen("before");

  // A clean drop: the client watches again from the last resourceVersion it saw.
  t.is(kube.dropWatches({ resource: "configmaps" }), 1);
  await kube.watchOpened("configmaps", 2);
  await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "after-drop" } } });
  await seen("after-drop");

  // A watch that fails with anything but 410 stops client-node's ListWatch (a known pitfall:
  // the caller must restart it).
  kube.failRequests({ verb: "watch", resource: "configmaps" }, { code: 500 });
  kube.dropWatches({ resource: "configmaps" });
  const error = (await errored) as { statusCode?: number };
  t.is(error.statusCode, 500);
  t.deepEqual(kube.watches(), []);

  // While it is down an object goes away and the history is compacted: the restarted
  // watch gets 410 Gone, and the relist tells the client of the deletion.
  await core.deleteNamespacedConfigMap({ namespace: "default", name: "before" });
  await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "during" } } });
  kube.compact();
  await informer.start();
  await seen("during");
  t.deepEqual(deleted, ["before"]);
  t.deepEqual(
    informer
      .list("default")
      .map((o) => o.metadata?.name)
      .sort(),
    ["after-drop", "during"],
  );
  // The watch after the relist (a watch answered with an ERROR event does not count as opened).
  await kube.watchOpened("configmaps", 3);
  const watches = kube.requests
    .filter((r) => r.verb === "watch" && r.resource === "configmaps")
    .map((r) => r.code);
  t.deepEqual(
    watches.slice(-3),
    [500, 200, 200],
    "the failed watch, the one answered with 410 as an event, the one after the relist",
  );
  t.is(
    kube.requests.filter((r) => r.verb === "list" && r.resource === "configmaps").length,
    2,
    "one list at start, one after 410",
  );
});

test("fake kube watch: timeoutSeconds ends the stream, with a last bookmark when allowed; sendInitialEvents ends the state with a marked bookmark", async (t) => {
  const kube = await startFakeKube({ bookmarkIntervalMs: 0 });
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "a" } } });
  const rv = String(kube.resourceVersion);
  const watch = await openWatch(kube, configMaps, {
    resourceVersion: rv,
    timeoutSeconds: 1,
    allowWatchBookmarks: true,
  });
  t.is(await watch.ended, null);
  t.deepEqual(
    watch.events.map((e) => e.type),
    ["BOOKMARK"],
  );

  const initial = await openWatch(kube, configMaps, {
    sendInitialEvents: true,
    resourceVersionMatch: "NotOlderThan",
    allowWatchBookmarks: true,
  });
  t.teardown(() => initial.stop());
  await initial.received(2);
  t.deepEqual(
    initial.events.map((e) => e.type),
    ["ADDED", "BOOKMARK"],
  );
  t.is(initial.events[1]?.object.metadata.annotations["k8s.io/initial-events-end"], "true");
});

test("fake kube watch: all-namespace watches and the legacy /watch/ path", async (t) => {
  const kube = await startFakeKube({ namespaces: ["one", "two"] });
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  const rv = String(kube.resourceVersion);
  const all = await openWatch(kube, "/api/v1/configmaps", { resourceVersion: rv });
  const legacy = await openWatch(kube, "/api/v1/watch/namespaces/two/configmaps", { resourceVersion: rv });
  t.teardown(() => all.stop());
  t.teardown(() => legacy.stop());
  await core.createNamespacedConfigMap({ namespace: "one", body: { metadata: { name: "a" } } });
  await core.createNamespacedConfigMap({ namespace: "two", body: { metadata: { name: "b" } } });
  await all.received(2);
  await legacy.received(1);
  t.deepEqual(
    all.events.map((e) => `${e.object.metadata.namespace}/${e.object.metadata.name}`),
    ["one/a", "two/b"],
  );
  t.deepEqual(
    legacy.events.map((e) => `${e.object.metadata.namespace}/${e.object.metadata.name}`),
    ["two/b"],
  );
});
