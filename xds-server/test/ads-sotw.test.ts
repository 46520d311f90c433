import type { DiscoveryResponse } from "@dispatch/proto/envoy";
import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import { status } from "@grpc/grpc-js";
import test, { type ExecutionContext } from "ava";
import {
  type AckEvent,
  type AdsServer,
  createSnapshotCache,
  type NackEvent,
  type SnapshotCache,
  startAdsServer,
} from "../src/index.js";
import { eventLog, openSotw, type SotwStream, sotwNames } from "./support/ads-client.js";
import { cluster, endpoints, listener, routes } from "./support/resources.js";

// State-of-the-world ADS against a raw grpc-js stream: each test drives the
// protocol by hand and waits only on responses and ACK/NACK events.

interface Harness {
  cache: SnapshotCache;
  server: AdsServer;
  acks: ReturnType<typeof eventLog<AckEvent>>;
  nacks: ReturnType<typeof eventLog<NackEvent>>;
  open(): SotwStream;
}

async function harness(
  t: ExecutionContext,
  authenticate?: (token: string | undefined) => boolean,
): Promise<Harness> {
  const cache = createSnapshotCache();
  const acks = eventLog<AckEvent>();
  const nacks = eventLog<NackEvent>();
  const server = await startAdsServer({
    cache,
    onAck: (e) => acks.push(e),
    onNack: (e) => nacks.push(e),
    identifier: "test-control-plane",
    ...(authenticate
      ? {
          authenticate: (md) =>
            authenticate(String(md.get("authorization")[0] ?? "").replace(/^Bearer /, "") || undefined),
        }
      : {}),
  });
  const streams: SotwStream[] = [];
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
      const s = openSotw(server.address);
      streams.push(s);
      return s;
    },
  };
}

const node = { id: "envoy-1", cluster: "gateway" };

/** ACKs a response, repeating the subscription (SotW requests carry all of it). */
function ack(stream: SotwStream, response: DiscoveryResponse, names: string[] = []): void {
  stream.send({
    typeUrl: response.typeUrl,
    versionInfo: response.versionInfo,
    responseNonce: response.nonce,
    resourceNames: names,
  });
}

test("SotW: the first request (legacy, no names) gets every cluster, with a version, a nonce and the type", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("b"), cluster("a")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const r = await s.next();
  t.is(r.typeUrl, CLUSTER_TYPE_URL);
  t.deepEqual(sotwNames(r), ["a", "b"]);
  t.not(r.versionInfo, "");
  t.not(r.nonce, "");
  t.is(r.controlPlane?.identifier, "test-control-plane");
  t.true(r.resources.every((any) => any.typeUrl === CLUSTER_TYPE_URL));
});

test("SotW: after an ACK nothing is sent again; a change comes with a new version and nonce", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const first = await s.next();
  ack(s, first);
  const acked = await h.acks.next();
  t.deepEqual(
    acked.resources.map((r) => r.name),
    ["a"],
  );
  t.is(acked.node.id, "envoy-1", "the node of the first request");
  h.cache.set([cluster("a"), cluster("b")]);
  const second = await s.next();
  t.deepEqual(sotwNames(second), ["a", "b"], "the next response is the change, not a repeat");
  t.not(second.nonce, first.nonce);
  t.not(second.versionInfo, first.versionInfo);
});

test("SotW: a NACK is reported with the proxy's message, and the refused content is never sent to that node again", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), listener("l", "r")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const refused = await s.next();
  s.send({
    typeUrl: CLUSTER_TYPE_URL,
    versionInfo: "",
    responseNonce: refused.nonce,
    errorDetail: { code: 3, message: "cluster a: bad connect timeout" },
  });
  const nack = await h.nacks.next();
  t.deepEqual(
    nack.resources.map((r) => r.name),
    ["a"],
  );
  t.is(nack.message, "cluster a: bad connect timeout");
  t.is(nack.code, 3);
  t.is(nack.typeUrl, CLUSTER_TYPE_URL);
  // Had the NACK caused a re-send, it would come before this listener.
  s.send({ typeUrl: LISTENER_TYPE_URL });
  t.is((await s.next()).typeUrl, LISTENER_TYPE_URL);

  // The same node on a new stream is not sent the refused content either.
  const again = h.open();
  again.send({ node, typeUrl: CLUSTER_TYPE_URL });
  again.send({ typeUrl: LISTENER_TYPE_URL });
  t.is((await again.next()).typeUrl, LISTENER_TYPE_URL);

  // New content is sent.
  h.cache.set([cluster("a"), cluster("b"), listener("l", "r")]);
  const fresh = await again.next();
  t.is(fresh.typeUrl, CLUSTER_TYPE_URL);
  t.deepEqual(sotwNames(fresh), ["a", "b"]);
});

test("SotW: a request with a stale nonce is ignored", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const first = await s.next();
  ack(s, first);
  await h.acks.next();
  h.cache.set([cluster("a"), cluster("b"), cluster("c")]);
  const second = await s.next();
  // Stale: names only "a". Answering it would narrow the subscription.
  s.send({ typeUrl: CLUSTER_TYPE_URL, responseNonce: first.nonce, resourceNames: ["a"] });
  s.send({ typeUrl: LISTENER_TYPE_URL });
  t.is((await s.next()).typeUrl, LISTENER_TYPE_URL, "no answer to the stale request came first");
  ack(s, second);
  await h.acks.next((e) => e.typeUrl === CLUSTER_TYPE_URL && e.nonce === second.nonce);
  h.cache.set([cluster("a"), cluster("b"), cluster("c"), cluster("d")]);
  t.deepEqual(sotwNames(await s.next()), ["a", "b", "c", "d"], "still subscribed to every cluster");
});

test("SotW: named subscriptions get their resources only, and a name that appears later is sent when it does", async (t) => {
  const h = await harness(t);
  h.cache.set([endpoints("a", [1]), endpoints("b", [2])]);
  const s = h.open();
  s.send({ node, typeUrl: ENDPOINT_TYPE_URL, resourceNames: ["a"] });
  const first = await s.next();
  t.deepEqual(sotwNames(first), ["a"]);
  // Asking for one more name is answered, even though "x" does not exist yet.
  ack(s, first, ["a", "x"]);
  const second = await s.next();
  t.deepEqual(sotwNames(second), ["a"]);
  ack(s, second, ["a", "x"]);
  await h.acks.next((e) => e.nonce === second.nonce);
  h.cache.set([endpoints("a", [1]), endpoints("b", [2]), endpoints("x", [3])]);
  t.deepEqual(sotwNames(await s.next()), ["a", "x"]);
});

test("SotW: '*' subscribes to everything; once names were sent, an empty list means nothing", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL, resourceNames: ["*"] });
  const all = await s.next();
  t.deepEqual(sotwNames(all), ["a", "b"]);
  ack(s, all, ["a"]);
  const one = await s.next();
  t.deepEqual(sotwNames(one), ["a"]);
  ack(s, one, []);
  t.deepEqual(sotwNames(await s.next()), [], "unsubscribed from everything");
});

test("SotW: push order CDS → EDS → LDS → RDS; a route waits for its new cluster and endpoints; the old cluster goes last", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), endpoints("a", [1]), listener("l", "r"), routes("r", { a: 1 })]);
  const s = h.open();
  // Start up as Envoy does: CDS and LDS by wildcard, EDS and RDS by name.
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const cds = await s.next();
  s.send({ typeUrl: ENDPOINT_TYPE_URL, resourceNames: ["a"] });
  ack(s, cds);
  const eds = await s.next();
  t.is(eds.typeUrl, ENDPOINT_TYPE_URL);
  ack(s, eds, ["a"]);
  s.send({ typeUrl: LISTENER_TYPE_URL });
  const lds = await s.next();
  ack(s, lds);
  s.send({ typeUrl: ROUTE_TYPE_URL, resourceNames: ["r"] });
  const rds = await s.next();
  t.is(rds.typeUrl, ROUTE_TYPE_URL);
  ack(s, rds, ["r"]);
  await h.acks.next((e) => e.typeUrl === ROUTE_TYPE_URL);

  // The route moves from cluster a to a new cluster b, and a goes away.
  h.cache.set([cluster("b"), endpoints("b", [2]), listener("l", "r"), routes("r", { b: 1 })]);
  const cds2 = await s.next();
  t.is(cds2.typeUrl, CLUSTER_TYPE_URL);
  t.deepEqual(sotwNames(cds2), ["a", "b"], "a stays while the route still names it");
  ack(s, cds2);
  await h.acks.next((e) => e.nonce === cds2.nonce);
  // The route waits: b has no endpoints at the client yet. Had it been sent on
  // the CDS ACK, it would arrive before the answer to this EDS request.
  s.send({
    typeUrl: ENDPOINT_TYPE_URL,
    versionInfo: eds.versionInfo,
    responseNonce: eds.nonce,
    resourceNames: ["a", "b"],
  });
  const eds2 = await s.next();
  t.is(eds2.typeUrl, ENDPOINT_TYPE_URL);
  t.deepEqual(sotwNames(eds2), ["a", "b"]);
  ack(s, eds2, ["a", "b"]);
  const rds2 = await s.next();
  t.is(rds2.typeUrl, ROUTE_TYPE_URL, "now the route");
  ack(s, rds2, ["r"]);
  const cds3 = await s.next();
  t.is(cds3.typeUrl, CLUSTER_TYPE_URL, "the removal comes last");
  t.deepEqual(sotwNames(cds3), ["b"]);
});

test("SotW: a client that does not subscribe to clusters (a gRPC client) gets a route at once", async (t) => {
  const h = await harness(t);
  h.cache.set([listener("l", "r"), routes("r", { a: 1 }), cluster("a")]);
  const s = h.open();
  s.send({ node, typeUrl: LISTENER_TYPE_URL, resourceNames: ["l"] });
  ack(s, await s.next(), ["l"]);
  s.send({ typeUrl: ROUTE_TYPE_URL, resourceNames: ["r"] });
  const first = await s.next();
  ack(s, first, ["r"]);
  await h.acks.next((e) => e.nonce === first.nonce);
  h.cache.set([listener("l", "r"), routes("r", { b: 1 }), cluster("a"), cluster("b")]);
  const next = await s.next();
  t.is(next.typeUrl, ROUTE_TYPE_URL);
});

test("SotW: a new stream of the same client gets the whole state again", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const first = await s.next();
  ack(s, first);
  await h.acks.next();
  s.close();
  const again = h.open();
  again.send({ node, typeUrl: CLUSTER_TYPE_URL, versionInfo: first.versionInfo });
  t.deepEqual(sotwNames(await again.next()), ["a"]);
});

test("SotW: a request without a type URL ends the stream with INVALID_ARGUMENT", async (t) => {
  const h = await harness(t);
  const s = h.open();
  s.send({ node });
  const ended = await s.ended;
  t.is(ended?.code, status.INVALID_ARGUMENT);
  t.regex(ended?.details ?? "", /type_url/);
});

test("SotW: with authentication, a stream without a valid node token is refused", async (t) => {
  const h = await harness(t, (token) => token === "node-secret");
  h.cache.set([cluster("a")]);
  const stranger = openSotw(h.server.address, "guess");
  stranger.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const ended = await stranger.ended;
  t.is(ended?.code, status.UNAUTHENTICATED);
  t.regex(ended?.details ?? "", /node token/);
  const member = openSotw(h.server.address, "node-secret");
  t.teardown(() => member.close());
  member.send({ node, typeUrl: CLUSTER_TYPE_URL });
  t.deepEqual(sotwNames(await member.next()), ["a"]);
});

test("SotW: the server lists its clients and what they ACKed", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a")]);
  const s = h.open();
  s.send({ node, typeUrl: CLUSTER_TYPE_URL });
  const first = await s.next();
  ack(s, first);
  await h.acks.next();
  const [client] = h.server.clients();
  t.is(client?.node.id, "envoy-1");
  t.is(client?.protocol, "sotw");
  t.deepEqual([...(client?.acked.get(CLUSTER_TYPE_URL)?.keys() ?? [])], ["a"]);
});

test("SotW: one change to every type reaches the client as CDS, then EDS, then LDS, then RDS", async (t) => {
  const h = await harness(t);
  h.cache.set([cluster("a"), cluster("b"), endpoints("a", [1]), listener("l", "r"), routes("r", { a: 1 })]);
  const s = h.open();
  // Subscribed the other way round, to show the order is the server's.
  const subscriptions: [string, string[]][] = [
    [ROUTE_TYPE_URL, ["r"]],
    [LISTENER_TYPE_URL, []],
    [ENDPOINT_TYPE_URL, ["a"]],
    [CLUSTER_TYPE_URL, []],
  ];
  for (const [typeUrl, names] of subscriptions) s.send({ node, typeUrl, resourceNames: names });
  for (let i = 0; i < subscriptions.length; i++) {
    const r = await s.next();
    ack(s, r, subscriptions.find(([type]) => type === r.typeUrl)?.[1]);
  }
  await h.acks.next((e) => e.typeUrl === ROUTE_TYPE_URL);
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
