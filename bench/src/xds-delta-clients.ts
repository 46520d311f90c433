/**
 * The proxies of the xds-delta bench, in a process of their own so that the
 * server's CPU time is the bench process's alone: `count` ADS streams of one
 * protocol, each on its own connection, subscribing as Envoy does (CDS and LDS
 * by wildcard, EDS by the names the clusters give, RDS by the names the
 * listeners give) and ACKing every response.
 *
 *   node xds-delta-clients.js ADDRESS delta|sotw COUNT   (forked, with an IPC channel)
 *
 * To the parent: `{kind: "warm"}` once every stream has ACKed all four types;
 * on `{kind: "flush"}`, `{kind: "responses", responses}`: every response
 * received since the last flush (stream, type, message size, nonce). Reports
 * wait for a flush so that no IPC message reaches the server process while it
 * is being measured.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  AggregatedDiscoveryService,
  CLUSTER_TYPE_URL,
  ClusterSchema,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ListenerSchema,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import { referencesOf } from "@dispatch/xds-server";
import { Client, credentials } from "@grpc/grpc-js";

/** One response a stream received. */
export interface ReceivedResponse {
  node: string;
  typeUrl: string;
  /** Size of the encoded DiscoveryResponse / DeltaDiscoveryResponse. */
  bytes: number;
  nonce: string;
  resources: number;
  removed: number;
}

/** Messages from the clients' process. */
export type ClientsMessage = { kind: "warm" } | { kind: "responses"; responses: ReceivedResponse[] };

const [address, protocol, countArg] = process.argv.slice(2);
if (!address || (protocol !== "delta" && protocol !== "sotw")) {
  throw new Error("usage: xds-delta-clients.js ADDRESS delta|sotw COUNT");
}
const count = Number(countArg ?? 1);
const received: ReceivedResponse[] = [];
const allTypes = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL];
let warm = 0;

/** What a stream's responses name: EDS names from clusters, RDS names from listeners. */
function namesFrom(typeUrl: string, values: Uint8Array[]): Set<string> {
  const schema = typeUrl === CLUSTER_TYPE_URL ? ClusterSchema : ListenerSchema;
  const names = new Set<string>();
  for (const value of values) {
    for (const ref of referencesOf(typeUrl, fromBinary(schema, value))) names.add(ref.name);
  }
  return names;
}

const dependent: Record<string, string> = {
  [CLUSTER_TYPE_URL]: ENDPOINT_TYPE_URL,
  [LISTENER_TYPE_URL]: ROUTE_TYPE_URL,
};

function openStream(index: number): void {
  const node = `bench-${protocol}-${index}`;
  const client = new Client(address as string, credentials.createInsecure(), {
    // A connection per proxy, as separate Envoys would have.
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": -1,
  });
  const method =
    protocol === "delta"
      ? AggregatedDiscoveryService.method.deltaAggregatedResources.name
      : AggregatedDiscoveryService.method.streamAggregatedResources.name;
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(
    `/${AggregatedDiscoveryService.typeName}/${method}`,
    (b) => b,
    (b) => b,
  );
  call.on("error", (err) => {
    if (!closing) console.error(`xds-delta-clients: ${node}: ${err.message}`);
  });
  // Warm: a response with resources ACKed for every type (a route configuration
  // may first come empty, held back until the clusters it names are ACKed).
  const acked = new Set<string>();
  const ackedType = (typeUrl: string, resources: number) => {
    if (acked.has(typeUrl) || resources === 0) return;
    acked.add(typeUrl);
    if (acked.size === allTypes.length && ++warm === count) process.send?.({ kind: "warm" });
  };

  if (protocol === "delta") {
    const send = (m: MessageInitShape<typeof DeltaDiscoveryRequestSchema>) =>
      call.write(Buffer.from(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, m))));
    // The names this stream holds per type (for CDS and LDS: what they name).
    const named = new Map<string, Map<string, Set<string>>>();
    const subscribed = new Map<string, Set<string>>();
    call.on("data", (bytes: Buffer) => {
      const r = fromBinary(DeltaDiscoveryResponseSchema, bytes);
      received.push({
        node,
        typeUrl: r.typeUrl,
        bytes: bytes.length,
        nonce: r.nonce,
        resources: r.resources.length,
        removed: r.removedResources.length,
      });
      const next = dependent[r.typeUrl];
      if (next) {
        const held = named.get(r.typeUrl) ?? new Map<string, Set<string>>();
        named.set(r.typeUrl, held);
        for (const res of r.resources) {
          held.set(res.name, namesFrom(r.typeUrl, [res.resource?.value ?? new Uint8Array()]));
        }
        for (const name of r.removedResources) held.delete(name);
        const want = new Set([...held.values()].flatMap((s) => [...s]));
        const have = subscribed.get(next) ?? new Set<string>();
        const add = [...want].filter((n) => !have.has(n));
        const drop = [...have].filter((n) => !want.has(n));
        subscribed.set(next, want);
        if (add.length > 0 || drop.length > 0) {
          send({
            ...(have.size === 0 ? { node: { id: node } } : {}),
            typeUrl: next,
            resourceNamesSubscribe: add,
            resourceNamesUnsubscribe: drop,
          });
        }
      }
      send({ typeUrl: r.typeUrl, responseNonce: r.nonce });
      ackedType(r.typeUrl, r.resources.length);
    });
    send({ node: { id: node }, typeUrl: CLUSTER_TYPE_URL, resourceNamesSubscribe: ["*"] });
    send({ node: { id: node }, typeUrl: LISTENER_TYPE_URL, resourceNamesSubscribe: ["*"] });
  } else {
    const send = (m: MessageInitShape<typeof DiscoveryRequestSchema>) =>
      call.write(Buffer.from(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, m))));
    // SotW: every request restates the type's whole subscription.
    const names = new Map<string, string[]>();
    const last = new Map<string, { version: string; nonce: string }>();
    call.on("data", (bytes: Buffer) => {
      const r = fromBinary(DiscoveryResponseSchema, bytes);
      received.push({
        node,
        typeUrl: r.typeUrl,
        bytes: bytes.length,
        nonce: r.nonce,
        resources: r.resources.length,
        removed: 0,
      });
      last.set(r.typeUrl, { version: r.versionInfo, nonce: r.nonce });
      const next = dependent[r.typeUrl];
      if (next) {
        const want = [
          ...namesFrom(
            r.typeUrl,
            r.resources.map((a) => a.value),
          ),
        ].sort();
        const have = names.get(next);
        if (!have || have.join("\n") !== want.join("\n")) {
          names.set(next, want);
          const prior = last.get(next);
          send({
            ...(have ? {} : { node: { id: node } }),
            typeUrl: next,
            resourceNames: want,
            versionInfo: prior?.version ?? "",
            responseNonce: prior?.nonce ?? "",
          });
        }
      }
      send({
        typeUrl: r.typeUrl,
        resourceNames: names.get(r.typeUrl) ?? [],
        versionInfo: r.versionInfo,
        responseNonce: r.nonce,
      });
      ackedType(r.typeUrl, r.resources.length);
    });
    send({ node: { id: node }, typeUrl: CLUSTER_TYPE_URL });
    send({ node: { id: node }, typeUrl: LISTENER_TYPE_URL });
  }
  clients.push(() => {
    call.cancel();
    client.close();
  });
}

let closing = false;
const clients: (() => void)[] = [];
for (let i = 0; i < count; i++) openStream(i);

process.on("message", (message: { kind: string }) => {
  if (message.kind === "flush") {
    process.send?.({ kind: "responses", responses: received.splice(0) } satisfies ClientsMessage);
  }
});
process.on("disconnect", () => {
  closing = true;
  for (const close of clients) close();
});
