import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  AggregatedDiscoveryService,
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "@dispatch/proto/envoy";
import { Client, type ClientDuplexStream, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";

/**
 * A raw ADS stream for protocol tests: requests as messages, responses read
 * one at a time in order. Nothing here waits on a clock: `next()` resolves
 * with the next response, or rejects when the stream ends first.
 */
export interface AdsTestStream<Req, Res> {
  send(request: Req): void;
  next(): Promise<Res>;
  /** Responses received and not yet read. */
  readonly buffered: number;
  /** Resolves with the status the stream ended with. */
  readonly ended: Promise<ServiceError | undefined>;
  close(): void;
}

export type SotwStream = AdsTestStream<MessageInitShape<typeof DiscoveryRequestSchema>, DiscoveryResponse>;
export type DeltaStream = AdsTestStream<
  MessageInitShape<typeof DeltaDiscoveryRequestSchema>,
  DeltaDiscoveryResponse
>;

/** Opens `StreamAggregatedResources`. */
export function openSotw(address: string, token?: string): SotwStream {
  return open(
    address,
    AggregatedDiscoveryService.method.streamAggregatedResources.name,
    (m) => Buffer.from(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, m))),
    (b) => fromBinary(DiscoveryResponseSchema, b),
    token,
  );
}

/** Opens `DeltaAggregatedResources`. */
export function openDelta(address: string, token?: string): DeltaStream {
  return open(
    address,
    AggregatedDiscoveryService.method.deltaAggregatedResources.name,
    (m) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, m))),
    (b) => fromBinary(DeltaDiscoveryResponseSchema, b),
    token,
  );
}

function open<Req, Res>(
  address: string,
  method: string,
  serialize: (request: Req) => Buffer,
  deserialize: (bytes: Buffer) => Res,
  token: string | undefined,
): AdsTestStream<Req, Res> {
  const client = new Client(address, credentials.createInsecure());
  const metadata = new Metadata();
  if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
  const call: ClientDuplexStream<Req, Res> = client.makeBidiStreamRequest(
    `/${AggregatedDiscoveryService.typeName}/${method}`,
    serialize,
    deserialize,
    metadata,
  );
  const queue: Res[] = [];
  const waiters: { resolve: (r: Res) => void; reject: (e: Error) => void }[] = [];
  let finished: Error | undefined;
  let resolveEnded: (e: ServiceError | undefined) => void = () => {};
  const ended = new Promise<ServiceError | undefined>((resolve) => {
    resolveEnded = resolve;
  });
  const finish = (error: Error) => {
    finished ??= error;
    for (const w of waiters.splice(0)) w.reject(finished);
  };
  call.on("data", (response: Res) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(response);
    else queue.push(response);
  });
  call.on("error", (err: ServiceError) => {
    resolveEnded(err);
    finish(err);
  });
  call.on("end", () => {
    resolveEnded(undefined);
    finish(new Error("the stream ended"));
  });
  return {
    send: (request) => {
      call.write(request);
    },
    next: () => {
      const ready = queue.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      if (finished) return Promise.reject(finished);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    get buffered() {
      return queue.length;
    },
    ended,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

/** Collects events and lets a test wait for one that matches. */
export interface EventLog<E> {
  push(event: E): void;
  /** Resolves with the first event (seen or to come) after those already taken that matches. */
  next(match?: (event: E) => boolean): Promise<E>;
  readonly all: readonly E[];
}

/** Creates an {@link EventLog}. */
export function eventLog<E>(): EventLog<E> {
  const all: E[] = [];
  let taken = 0;
  const waiters: { match: (e: E) => boolean; resolve: (e: E) => void }[] = [];
  return {
    push(event) {
      all.push(event);
      const i = waiters.findIndex((w) => w.match(event));
      if (i >= 0) {
        const [w] = waiters.splice(i, 1);
        taken = all.length;
        w?.resolve(event);
      }
    },
    next(match = () => true) {
      for (let i = taken; i < all.length; i++) {
        const event = all[i] as E;
        if (match(event)) {
          taken = i + 1;
          return Promise.resolve(event);
        }
      }
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    all,
  };
}

/** Names of the resources in a SotW response, decoded just enough to name them. */
export function sotwNames(response: DiscoveryResponse): string[] {
  return response.resources.map((any) => nameOf(any.value));
}

/** Names of the resources in a Delta response. */
export function deltaNames(response: DeltaDiscoveryResponse): string[] {
  return response.resources.map((r) => r.name);
}

/** The `name` field (1) of a Listener, Cluster, RouteConfiguration, or ClusterLoadAssignment's `cluster_name` (1). */
function nameOf(bytes: Uint8Array): string {
  // Every resource type the tests use carries its name in field 1.
  if (bytes[0] !== 0x0a) return "";
  const length = bytes[1] ?? 0;
  return Buffer.from(bytes.subarray(2, 2 + length)).toString("utf8");
}

export type { DeltaDiscoveryRequest, DiscoveryRequest };
