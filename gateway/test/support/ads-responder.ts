/**
 * Test scaffolding: a small Delta ADS responder on grpc-js, written raw
 * against the protobuf-es messages. It holds a set of resources per type,
 * answers subscriptions (wildcard and named, honouring
 * `initial_resource_versions`), pushes changes to subscribed streams, and
 * records every request so a test can wait for an ACK or a NACK. It is not
 * the xds-server: only what these tests need.
 */
import { createHash } from "node:crypto";
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
} from "@dispatch/proto/envoy";
import * as grpc from "@grpc/grpc-js";

export interface StoredResource {
  readonly name: string;
  readonly version: string;
  readonly any: Any;
}

interface Stream {
  readonly call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;
  /** Per type: undefined (not subscribed), "*" plus names. */
  readonly subscriptions: Map<string, Set<string>>;
  nonce: number;
}

export interface AdsResponder {
  readonly address: string;
  /** Every request received, in order, across streams. */
  readonly requests: readonly DeltaDiscoveryRequest[];
  /** How many streams were opened. */
  streams(): number;
  /** Replaces the resources of a type and pushes the difference to subscribed streams. */
  set<Desc extends DescMessage>(
    typeUrl: string,
    schema: Desc,
    resources: readonly MessageShape<Desc>[],
    nameOf?: (m: MessageShape<Desc>) => string,
  ): void;
  /** Resolves with the first request at index >= `from` that satisfies `predicate` (waiting for it). */
  waitFor(
    predicate: (request: DeltaDiscoveryRequest) => boolean,
    from?: number,
  ): Promise<DeltaDiscoveryRequest>;
  /** Breaks the open streams (UNAVAILABLE): the client must reconnect. */
  dropStreams(): void;
  close(): Promise<void>;
}

const method = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

export async function startAdsResponder(port = 0): Promise<AdsResponder> {
  const resources = new Map<string, Map<string, StoredResource>>();
  const requests: DeltaDiscoveryRequest[] = [];
  const waiters = new Set<() => void>();
  const streams = new Set<Stream>();
  let opened = 0;

  const send = (stream: Stream, typeUrl: string, list: StoredResource[], removed: string[]) => {
    if (list.length === 0 && removed.length === 0) return;
    stream.nonce++;
    stream.call.write(
      create(DeltaDiscoveryResponseSchema, {
        typeUrl,
        nonce: String(stream.nonce),
        systemVersionInfo: "test",
        resources: list.map((r) => ({ name: r.name, version: r.version, resource: r.any })),
        removedResources: removed,
      }),
    );
  };

  const onRequest = (stream: Stream, request: DeltaDiscoveryRequest) => {
    requests.push(request);
    for (const wake of [...waiters]) wake();
    const typeUrl = request.typeUrl;
    let subs = stream.subscriptions.get(typeUrl);
    if (!subs) {
      subs = new Set();
      stream.subscriptions.set(typeUrl, subs);
    }
    for (const name of request.resourceNamesUnsubscribe) subs.delete(name);
    const asked = request.resourceNamesSubscribe;
    if (asked.length === 0) return;
    for (const name of asked) subs.add(name);
    const have = resources.get(typeUrl) ?? new Map<string, StoredResource>();
    const known = request.initialResourceVersions;
    const names = asked.includes("*")
      ? [...new Set([...have.keys(), ...asked.filter((n) => n !== "*")])]
      : asked;
    const list: StoredResource[] = [];
    const removed: string[] = [];
    for (const name of names) {
      const resource = have.get(name);
      if (resource && known[name] !== resource.version) list.push(resource);
      if (!resource) removed.push(name);
    }
    // Held by the client but gone meanwhile (xds_protocol: initial_resource_versions).
    for (const name of Object.keys(known)) if (!have.has(name) && !removed.includes(name)) removed.push(name);
    send(stream, typeUrl, list, removed);
  };

  const server = new grpc.Server();
  server.addService(
    {
      DeltaAggregatedResources: {
        path: method,
        requestStream: true,
        responseStream: true,
        requestSerialize: (m: DeltaDiscoveryRequest) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, m)),
        requestDeserialize: (b: Buffer) => fromBinary(DeltaDiscoveryRequestSchema, b),
        responseSerialize: (m: DeltaDiscoveryResponse) =>
          Buffer.from(toBinary(DeltaDiscoveryResponseSchema, m)),
        responseDeserialize: (b: Buffer) => fromBinary(DeltaDiscoveryResponseSchema, b),
      },
    },
    {
      DeltaAggregatedResources: (
        call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
      ) => {
        opened++;
        const stream: Stream = { call, subscriptions: new Map(), nonce: 0 };
        streams.add(stream);
        call.on("data", (request: DeltaDiscoveryRequest) => onRequest(stream, request));
        call.on("error", () => streams.delete(stream));
        call.on("end", () => {
          streams.delete(stream);
          call.end();
        });
        call.on("cancelled", () => streams.delete(stream));
      },
    },
  );
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  );

  return {
    address: `127.0.0.1:${bound}`,
    requests,
    streams: () => opened,
    set(typeUrl, schema, messages, nameOf = (m) => (m as unknown as { name: string }).name) {
      const before = resources.get(typeUrl) ?? new Map<string, StoredResource>();
      const after = new Map<string, StoredResource>();
      for (const message of messages) {
        const any = anyPack(schema, message);
        const version = createHash("sha256").update(any.value).digest("hex").slice(0, 12);
        after.set(nameOf(message), { name: nameOf(message), version, any });
      }
      resources.set(typeUrl, after);
      for (const stream of streams) {
        const subs = stream.subscriptions.get(typeUrl);
        if (!subs) continue;
        const wanted = (name: string) => subs.has("*") || subs.has(name);
        const changed = [...after.values()].filter(
          (r) => wanted(r.name) && before.get(r.name)?.version !== r.version,
        );
        const removed = [...before.keys()].filter((name) => wanted(name) && !after.has(name));
        send(stream, typeUrl, changed, removed);
      }
    },
    waitFor(predicate, from = 0) {
      return new Promise((resolve) => {
        const check = () => {
          for (let i = from; i < requests.length; i++) {
            const request = requests[i] as DeltaDiscoveryRequest;
            if (predicate(request)) {
              waiters.delete(check);
              resolve(request);
              return;
            }
          }
        };
        waiters.add(check);
        check();
      });
    },
    dropStreams() {
      for (const stream of streams) {
        stream.call.destroy(
          Object.assign(new Error("dropped by the test"), { code: grpc.status.UNAVAILABLE }),
        );
      }
      streams.clear();
    },
    close() {
      for (const stream of streams) stream.call.end();
      return new Promise((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}
