import {
  CLUSTER_TYPE_URL,
  type ClusterLoadAssignment,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import { Client, credentials, Server, ServerCredentials, type ServiceError, status } from "@grpc/grpc-js";
import { register } from "@grpc/grpc-js-xds";
import test from "ava";
import {
  type AckEvent,
  type AdsServer,
  createSnapshotCache,
  type NackEvent,
  type ResourceInput,
  startAdsServer,
} from "../src/index.js";
import { eventLog } from "./support/ads-client.js";
import { cluster, endpoints, listener, routes } from "./support/resources.js";

// The real, independent xDS client `@grpc/grpc-js-xds` (SotW ADS) resolves
// `xds:///echo.test` through our server: an API listener, its route
// configuration, EDS clusters, and load assignments pointing at small gRPC
// servers started here. Each step waits for the client's ACK of the change,
// then for calls to follow it; nothing waits on a clock.

const target = "echo.test";
const cache = createSnapshotCache();
const acks = eventLog<AckEvent>();
const nacks = eventLog<NackEvent>();
let ads: AdsServer;
const backends = new Map<string, { server: Server; port: number }>();
let client: Client;

const method = "/dispatch.test.Echo/Who";

/** A gRPC server whose one method answers with its name. */
async function startBackend(name: string): Promise<{ server: Server; port: number }> {
  const server = new Server();
  server.addService(
    {
      Who: {
        path: method,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (s: string) => Buffer.from(s),
        responseDeserialize: (b: Buffer) => b.toString(),
        originalName: "who",
      },
    },
    { Who: (_call: unknown, callback: (err: null, value: string) => void) => callback(null, name) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port };
}

/** One call through the xDS channel: the name of the backend that answered. */
function who(): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b.toString(),
      Buffer.alloc(0),
      // A bound so a broken run fails instead of hanging; never a timing assertion.
      { deadline: Date.now() + 60_000 },
      (err: ServiceError | null, value?: string) => (err ? reject(err) : resolve(value ?? "")),
    );
  });
}

/** Calls until one is answered by `name` (each call is an event; the count only bounds a broken run). */
async function untilAnsweredBy(name: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if ((await who()) === name) return;
  }
  throw new Error(`no call reached ${name}`);
}

function port(name: string): number {
  const backend = backends.get(name);
  if (!backend) throw new Error(`no backend ${name}`);
  return backend.port;
}

/** Serves `resources` and waits until the gRPC client has ACKed the version of each changed one. */
async function serve(resources: ResourceInput[]): Promise<void> {
  const change = cache.set(resources);
  for (const [typeUrl, { upserted }] of change) {
    for (const name of upserted) {
      const version = cache.resource(typeUrl, name)?.version;
      // Only what the client subscribes to reaches it.
      if (typeUrl === CLUSTER_TYPE_URL || typeUrl === ENDPOINT_TYPE_URL) {
        const routesNow = [...cache.get(ROUTE_TYPE_URL).values()].flatMap((r) =>
          r.references.map((x) => x.name),
        );
        if (!routesNow.includes(name)) continue;
      }
      await acks.next(
        (e) =>
          e.node.id === "grpc-test-client" &&
          e.typeUrl === typeUrl &&
          e.resources.some((r) => r.name === name && r.version === version),
      );
    }
  }
}

test.before(async () => {
  ads = await startAdsServer({ cache, onAck: (e) => acks.push(e), onNack: (e) => nacks.push(e) });
  for (const name of ["a", "b"]) backends.set(name, await startBackend(name));
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: ads.address, channel_creds: [{ type: "insecure" }], server_features: [] }],
    node: { id: "grpc-test-client", locality: {} },
  });
  register();
  cache.set([
    listener(target, "echo-routes"),
    routes("echo-routes", { "echo-a": 1 }, [target]),
    cluster("echo-a"),
    endpoints("echo-a", [port("a")]),
  ]);
  client = new Client(`xds:///${target}`, credentials.createInsecure());
});

test.after.always(async () => {
  client?.close();
  await ads?.close();
  for (const { server } of backends.values()) server.forceShutdown();
});

test.serial(
  "grpc-js-xds resolves xds:///echo.test through our ADS server and a call reaches the backend",
  async (t) => {
    t.is(await who(), "a");
    const [info] = ads.clients();
    t.is(info?.node.id, "grpc-test-client");
    t.is(info?.protocol, "sotw", "grpc-js-xds speaks SotW ADS");
    t.deepEqual(
      [LISTENER_TYPE_URL, ROUTE_TYPE_URL, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL].map((type) => [
        ...(info?.acked.get(type)?.keys() ?? []),
      ]),
      [[target], ["echo-routes"], ["echo-a"], ["echo-a"]],
      "it ACKed the listener, the routes, the cluster and its endpoints",
    );
  },
);

test.serial("an EDS change moves the calls to the new endpoint", async (t) => {
  await serve([
    listener(target, "echo-routes"),
    routes("echo-routes", { "echo-a": 1 }, [target]),
    cluster("echo-a"),
    endpoints("echo-a", [port("b")]),
  ]);
  await untilAnsweredBy("b");
  const next = await Promise.all(Array.from({ length: 20 }, () => who()));
  t.deepEqual(new Set(next), new Set(["b"]), "every call now reaches b");
});

test.serial("route changes move the calls: to another cluster, then split by weight", async (t) => {
  await serve([
    listener(target, "echo-routes"),
    routes("echo-routes", { "echo-b": 1 }, [target]),
    cluster("echo-a"),
    endpoints("echo-a", [port("a")]),
    cluster("echo-b"),
    endpoints("echo-b", [port("b")]),
  ]);
  await untilAnsweredBy("b");
  t.deepEqual(new Set(await Promise.all(Array.from({ length: 20 }, () => who()))), new Set(["b"]));

  await serve([
    listener(target, "echo-routes"),
    routes("echo-routes", { "echo-a": 1, "echo-b": 1 }, [target]),
    cluster("echo-a"),
    endpoints("echo-a", [port("a")]),
    cluster("echo-b"),
    endpoints("echo-b", [port("b")]),
  ]);
  const seen = new Set<string>();
  for (let i = 0; i < 5000 && seen.size < 2; i++) seen.add(await who());
  t.deepEqual([...seen].sort(), ["a", "b"], "a weighted split sends calls to both");
});

test.serial(
  "a NACK from grpc-js-xds is reported with its message; the client keeps serving from what it had",
  async (t) => {
    const base = [
      listener(target, "echo-routes"),
      routes("echo-routes", { "echo-a": 1 }, [target]),
      cluster("echo-a"),
    ];
    await serve([...base, endpoints("echo-a", [port("a")])]);
    await untilAnsweredBy("a");
    // gRPC clients refuse a locality that is not set (Envoy would not mind).
    const unset = endpoints("echo-a", [port("b")]);
    const [locality] = (unset.message as ClusterLoadAssignment).endpoints;
    if (locality) locality.locality = undefined;
    cache.set([...base, unset]);
    const nack = await nacks.next((e) => e.node.id === "grpc-test-client");
    t.is(nack.typeUrl, ENDPOINT_TYPE_URL);
    t.deepEqual(
      nack.resources.map((r) => r.name),
      ["echo-a"],
    );
    t.regex(nack.message, /locality unset/);
    t.deepEqual(new Set(await Promise.all(Array.from({ length: 10 }, () => who()))), new Set(["a"]));
    await serve([...base, endpoints("echo-a", [port("b")])]);
    await untilAnsweredBy("b");
    t.is(nacks.all.length, 1, "the refused version was not sent again");
  },
);

test.serial("deleting the listener stops the calls", async (t) => {
  cache.set([cluster("echo-a"), endpoints("echo-a", [port("a")])]);
  await acks.next(
    (e) => e.node.id === "grpc-test-client" && e.typeUrl === LISTENER_TYPE_URL && e.resources.length === 0,
  );
  let failure: ServiceError | undefined;
  for (let i = 0; i < 5000 && !failure; i++) {
    failure = await who().then(
      () => undefined,
      (err: ServiceError) => err,
    );
  }
  t.is(failure?.code, status.UNAVAILABLE);
});
