import type { DeltaDiscoveryResponse } from "@dispatch/proto/envoy";
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import test, { type ExecutionContext } from "ava";
import {
  type AckEvent,
  type AdsServer,
  createSnapshotCache,
  type NackEvent,
  type SnapshotCache,
  startAdsServer,
} from "../src/index.js";
import { type DeltaStream, deltaNames, eventLog, openDelta } from "./support/ads-client.js";
import { cluster, endpoints, listener, routes } from "./support/resources.js";

// Incremental (Delta) ADS against a raw grpc-js stream.

interface Harness {
  cache: SnapshotCache;
  server: AdsServer;
  acks: ReturnType<typeof eventLog<AckEvent>>;
  nacks: ReturnType<typeof eventLog<NackEvent>>;
  open(): DeltaStream;
}

async function harness(t: ExecutionContext): Promise<Harness> {
  const cache = createSnapshotCache();
  const acks = eventLog<AckEvent>();
  const nacks = eventLog<NackEvent>();
  const server = await startAdsServer({ cache, onAck: (e) => acks.push(e), onNack: (e) => nacks.push(e) });
  const streams: DeltaStream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.close();
    await server.close();
  });
  return {
    cache,
    server,
    acks,
    nacks,
    open: () => {
      const s = openDelta(server.address);
      streams.push(s);
      return s;
    },
  };
}

const node = { id: "envoy-1" };

function ack(stream: DeltaStream, response: DeltaDiscoveryResponse): void {
  stream.send({ typeUrl: response.typeUrl, responseNonce: response.nonce });
}

test("Delta: the first request (legacy, nothing named) gets every resource, each with its version", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("b"), cluster("a")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const r = await s.next();
  t.deepEqual(deltaNames(r), ["a", "b"]);
  t.deepEqual(
    r.resources.map((res) => res.version),
    ["a", "b"].map((n) => h.cache.resource(CLUSTER_TYPE_URL, n)?.version),
  );
  t.not(r.nonce, "");
  t.deepEqual(r.removedResources, []);
});

test("Delta: '*' subscribes to everything too", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL, resourceNamesSubscribe: ["*"] });
  t.deepEqual(deltaNames(await s.next()), ["a", "b"]);
});

test("Delta: only what changed is sent, and a deleted resource comes as removed_resources", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b"), endpoints("b", [1])]);
  const s = h.open();
  s.send({ node, typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["*"] });
  const first = await s.next();
  ack(s, first);
  await h.acks.next();
  h.cache.set([cluster("a"), cluster("b"), endpoints("b", [2]), endpoints("c", [3])]);
  const change = await s.next();
  t.deepEqual(deltaNames(change), ["b", "c"]);
  t.deepEqual(change.removedResources, []);
  ack(s, change);
  await h.acks.next((e) => e.nonce === change.nonce);
  h.cache.set([cluster("a"), cluster("b"), endpoints("b", [2])]);
  const removal = await s.next();
  t.deepEqual(deltaNames(removal), []);
  t.deepEqual(removal.removedResources, ["c"]);
});

test("Delta: a NACKed version of a resource is never sent to that node again; a new version is", async (t) => {
  const h = await harness(t);
  h.cache.set([endpoints("a", [1]), listener("l", "r")]);
  const s = h.open();
  s.send({ node, typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["a"] });
  const refused = await s.next();
  s.send({
    typeUrl: ENDPOINT_TYPE_URL,
    responseNonce: refused.nonce,
    errorDetail: { code: 13, message: "endpoint a: malformed address" },
  });
  const nack = await h.nacks.next();
  t.deepEqual(nack.resources, [
    { name: "a", version: h.cache.resource(ENDPOINT_TYPE_URL, "a")?.version ?? "" },
  ]);
  t.is(nack.message, "endpoint a: malformed address");
  t.is(nack.protocol, "delta");
  s.send({ typeUrl: LISTENER_TYPE_URL });
  t.is((await s.next()).typeUrl, LISTENER_TYPE_URL, "no re-send came first");
  // Subscribing again would normally re-send; not a refused version.
  s.send({ typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["a"] });
  s.send({ typeUrl: ROUTE_TYPE_URL, resourceNamesSubscribe: ["r"] });
  const after = await s.next();
  t.is(after.typeUrl, ROUTE_TYPE_URL);
  t.deepEqual(after.removedResources, ["r"], "r does not exist");
  h.cache.set([endpoints("a", [2]), listener("l", "r")]);
  const fresh = await s.next();
  t.is(fresh.typeUrl, ENDPOINT_TYPE_URL);
  t.deepEqual(deltaNames(fresh), ["a"]);
});

test("Delta: named subscribe and unsubscribe; an absent name is answered as removed, and sent once it exists", async (t) => {
  const h = await harness(t);
  h.cache.set([endpoints("a", [1]), endpoints("b", [2])]);
  const s = h.open();
  s.send({ node, typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["a", "x"] });
  const first = await s.next();
  t.deepEqual(deltaNames(first), ["a"]);
  t.deepEqual(first.removedResources, ["x"], "x does not exist");
  ack(s, first);
  await h.acks.next();
  s.send({ typeUrl: ENDPOINT_TYPE_URL, resourceNamesUnsubscribe: ["a"] });
  s.send({ typeUrl: CLUSTER_TYPE_URL, resourceNamesSubscribe: ["none"] });
  t.is((await s.next()).typeUrl, CLUSTER_TYPE_URL, "an unsubscribe needs no answer");
  h.cache.set([endpoints("a", [9]), endpoints("b", [2]), endpoints("x", [3])]);
  const appeared = await s.next();
  t.is(appeared.typeUrl, ENDPOINT_TYPE_URL);
  t.deepEqual(deltaNames(appeared), ["x"], "x now exists; a changed but is no longer asked for");
});

test("Delta: a name subscribed again is sent again, even though the client has it", async (t) => {
  const h = await harness(t);
  h.cache.set([endpoints("a", [1])]);
  const s = h.open();
  s.send({ node, typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["a"] });
  const first = await s.next();
  ack(s, first);
  await h.acks.next();
  s.send({ typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["a"] });
  const again = await s.next();
  t.deepEqual(deltaNames(again), ["a"]);
  t.not(again.nonce, first.nonce);
});

test("Delta: under a wildcard, unsubscribing an explicit name is answered with the resource (or its removal)", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL, resourceNamesSubscribe: ["*", "a", "ghost"] });
  const first = await s.next();
  t.deepEqual(deltaNames(first), ["a", "b"]);
  t.deepEqual(first.removedResources, ["ghost"]);
  ack(s, first);
  await h.acks.next();
  s.send({ typeUrl: CLUSTER_TYPE_URL, resourceNamesUnsubscribe: ["a", "ghost"] });
  const answer = await s.next();
  t.deepEqual(deltaNames(answer), ["a"], "the wildcard still covers a");
  t.deepEqual(answer.removedResources, ["ghost"]);
});

test("Delta: a reconnect with initial_resource_versions gets only what changed, and what is gone is removed", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b"), cluster("c")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const first = await s.next();
  ack(s, first);
  await h.acks.next();
  const versions = Object.fromEntries(first.resources.map((r) => [r.name, r.version]));
  s.close();

  // While disconnected: a stays, b changes, c goes, d comes.
  const changedB = cluster("b");
  (changedB.message as { connectTimeout?: unknown }).connectTimeout = {
    $typeName: "google.protobuf.Duration",
    seconds: 9n,
    nanos: 0,
  };
  h.cache.set([cluster("a"), changedB, cluster("d")]);
  const again = h.open();
  again.send({ node, typeUrl: CLUSTER_TYPE_URL, initialResourceVersions: versions });
  const update = await again.next();
  t.deepEqual(deltaNames(update), ["b", "d"], "a is unchanged and not sent");
  ack(again, update);
  const removal = await again.next();
  t.deepEqual(
    removal.removedResources,
    ["c"],
    "c, which the client still had, is removed (after the updates)",
  );
});

test("Delta: subscription changes are honoured on a request whose nonce is stale", async (t) => {
  const h = await harness(t);
  h.cache.set([endpoints("a", [1]), endpoints("b", [2])]);
  const s = h.open();
  s.send({ node, typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["a"] });
  const first = await s.next();
  ack(s, first);
  await h.acks.next();
  h.cache.set([endpoints("a", [3]), endpoints("b", [2])]);
  const second = await s.next();
  // Stale nonce (the first response's), with a new name.
  s.send({ typeUrl: ENDPOINT_TYPE_URL, responseNonce: first.nonce, resourceNamesSubscribe: ["b"] });
  ack(s, second);
  const third = await s.next();
  t.deepEqual(deltaNames(third), ["b"]);
});

test("Delta: push order CDS → EDS → LDS → RDS; a route waits for its new cluster and endpoints; the old cluster goes last", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), endpoints("a", [1]), listener("l", "r"), routes("r", { a: 1 })]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const cds = await s.next();
  s.send({ typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["a"] });
  ack(s, cds);
  ack(s, await s.next());
  s.send({ typeUrl: LISTENER_TYPE_URL });
  ack(s, await s.next());
  s.send({ typeUrl: ROUTE_TYPE_URL, resourceNamesSubscribe: ["r"] });
  const rds = await s.next();
  t.is(rds.typeUrl, ROUTE_TYPE_URL);
  ack(s, rds);
  await h.acks.next((e) => e.typeUrl === ROUTE_TYPE_URL);

  h.cache.set([cluster("b"), endpoints("b", [2]), listener("l", "r"), routes("r", { b: 1 })]);
  const cds2 = await s.next();
  t.is(cds2.typeUrl, CLUSTER_TYPE_URL);
  t.deepEqual(deltaNames(cds2), ["b"]);
  t.deepEqual(cds2.removedResources, [], "a is not removed while the route names it");
  ack(s, cds2);
  await h.acks.next((e) => e.nonce === cds2.nonce);
  // Had the route gone out on the CDS ACK, it would come before this answer.
  s.send({ typeUrl: ENDPOINT_TYPE_URL, resourceNamesSubscribe: ["b"] });
  const eds2 = await s.next();
  t.is(eds2.typeUrl, ENDPOINT_TYPE_URL);
  t.deepEqual(deltaNames(eds2), ["b"]);
  ack(s, eds2);
  const rds2 = await s.next();
  t.is(rds2.typeUrl, ROUTE_TYPE_URL, "now the route");
  ack(s, rds2);
  const removal = await s.next();
  t.is(removal.typeUrl, CLUSTER_TYPE_URL, "the removal comes last");
  t.deepEqual(removal.removedResources, ["a"]);
  ack(s, removal);
  const endpointsRemoval = await s.next();
  t.is(endpointsRemoval.typeUrl, ENDPOINT_TYPE_URL, "a's endpoints once no cluster names them");
  t.deepEqual(endpointsRemoval.removedResources, ["a"]);
});

test("Delta: one change to every type reaches the client as CDS, then EDS, then LDS, then RDS", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b"), endpoints("a", [1]), listener("l", "r"), routes("r", { a: 1 })]);
  const s = h.open();
  const subscriptions: [string, string[]][] = [
    [ROUTE_TYPE_URL, ["r"]],
    [LISTENER_TYPE_URL, []],
    [ENDPOINT_TYPE_URL, ["a"]],
    [CLUSTER_TYPE_URL, []],
  ];
  for (const [typeUrl, names] of subscriptions) s.send({ node, typeUrl, resourceNamesSubscribe: names });
  for (let i = 0; i < subscriptions.length; i++) ack(s, await s.next());
  await h.acks.next((e) => e.typeUrl === CLUSTER_TYPE_URL);
  h.cache.set([
    cluster("a"),
    cluster("b"),
    cluster("c"),
    endpoints("a", [7]),
    listener("l", "r"),
    listener("l2", "r"),
    routes("r", { b: 1 }),
  ]);
  const order: string[] = [];
  for (let i = 0; i < 4; i++) order.push((await s.next()).typeUrl);
  t.deepEqual(order, [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL]);
});
