import { type DescMessage, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import {
  AggregatedDiscoveryService,
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
} from "@dispatch/proto/envoy";
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";
import type { SnapshotCache } from "../cache/snapshot-cache.js";
import { createDeltaSession } from "./ads-delta.js";
import { type AdsSession, createSotwSession } from "./ads-sotw.js";
import { createNackTracker, type NackTracker } from "./nack-tracker.js";
import { type AckEvent, AdsProtocolError, type ClientInfo, type NackEvent } from "./session-types.js";
import { createResponseEncoder } from "./wire.js";

/** Options of {@link startAdsServer}. */
export interface AdsServerOptions {
  /** What is served. */
  cache: SnapshotCache;
  /** Bind address; default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Transport security; default insecure (loopback). Use `ServerCredentials.createSsl(…, true)` for mTLS. */
  credentials?: ServerCredentials;
  /**
   * Decides whether a stream may be served, from its call metadata (e.g. a node
   * token in `authorization: Bearer …`); a refused stream ends UNAUTHENTICATED.
   * Without it every client is served.
   */
  authenticate?: (metadata: Metadata) => boolean;
  /** Called for every ACK. */
  onAck?: (event: AckEvent) => void;
  /** Called for every NACK, with the resources refused and the proxy's message. */
  onNack?: (event: NackEvent) => void;
  /** Called when a stream ends: the set of {@link AdsServer.clients} changed. */
  onDisconnect?: () => void;
  /** `control_plane.identifier` in every response; default `dispatch-xds-server`. */
  identifier?: string;
  /** Remembers refused versions per node (shared across its reconnects); default a new one. */
  tracker?: NackTracker;
}

/** A running ADS server. */
export interface AdsServer {
  /** `host:port`, what a client's bootstrap names. */
  address: string;
  port: number;
  /** Every connected client, its node and what it has ACKed. */
  clients(): ClientInfo[];
  /** Ends every stream and stops listening. */
  close(): Promise<void>;
}

/** The largest request a client may send (requests are small: names and an error detail). */
export const maxRequestBytes = 4 * 1024 * 1024;

/**
 * Starts `envoy.service.discovery.v3.AggregatedDiscoveryService` on gRPC, both
 * `StreamAggregatedResources` (SotW) and `DeltaAggregatedResources` (Delta),
 * serving what `cache` holds and following it as it changes. Responses are
 * built from the cache's encoded bytes (`wire.ts`): no stream encodes a
 * resource again.
 *
 * @example
 * const cache = createSnapshotCache();
 * const ads = await startAdsServer({ cache, onNack: (e) => console.warn(e.message) });
 * cache.set(resources); // every stream gets what changed
 */
export async function startAdsServer(options: AdsServerOptions): Promise<AdsServer> {
  const { cache } = options;
  const tracker = options.tracker ?? createNackTracker();
  const encoder = createResponseEncoder(options.identifier ?? "dispatch-xds-server");
  const sessions = new Set<AdsSession>();
  let streams = 0;
  const calls = new Set<ServerDuplexStream<unknown, Uint8Array>>();

  /** The clients as last described, until one of them sends a request or leaves. */
  let known: ClientInfo[] | undefined;
  const serve = (protocol: "sotw" | "delta") => (call: ServerDuplexStream<unknown, Uint8Array>) => {
    if (options.authenticate && !options.authenticate(call.metadata)) {
      call.emit("error", {
        code: status.UNAUTHENTICATED,
        details:
          "this ADS server needs a node token: send it as gRPC metadata `authorization: Bearer <token>`",
      });
      return;
    }
    const context = {
      streamId: ++streams,
      cache,
      tracker,
      encoder,
      // Each stream has at most one response per type in flight, so what
      // grpc-js buffers for a slow reader stays bounded.
      send: (bytes: Uint8Array) => {
        call.write(bytes);
      },
      ...(options.onAck ? { onAck: options.onAck } : {}),
      ...(options.onNack ? { onNack: options.onNack } : {}),
    };
    const session = protocol === "sotw" ? createSotwSession(context) : createDeltaSession(context);
    sessions.add(session);
    calls.add(call);
    let closed = false;
    const done = () => {
      known = undefined;
      const was = sessions.delete(session);
      closed = true;
      calls.delete(call);
      if (was) options.onDisconnect?.();
    };
    call.on("data", (request: unknown) => {
      if (closed) return;
      // What the client holds may change with any request (an ACK, a NACK, a subscription).
      known = undefined;
      try {
        session.handle(request);
      } catch (err) {
        done();
        const code = err instanceof AdsProtocolError ? err.code : status.INTERNAL;
        call.emit("error", {
          code,
          details: err instanceof AdsProtocolError ? err.message : "internal error",
        });
      }
    });
    call.on("end", () => {
      done();
      call.end();
    });
    call.on("error", done);
    call.on("close", done);
    call.on("cancelled", done);
  };

  const unsubscribe = cache.subscribe((change) => {
    for (const session of sessions) session.sync(change);
  });

  const server = new Server({
    "grpc.max_receive_message_length": maxRequestBytes,
    // A proxy that vanished without closing its connection is noticed.
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  });
  server.addService(adsDefinition(), {
    StreamAggregatedResources: serve("sotw"),
    DeltaAggregatedResources: serve("delta"),
  });
  const host = options.host ?? "127.0.0.1";
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host.includes(":") ? `[${host}]` : host}:${options.port ?? 0}`,
      options.credentials ?? ServerCredentials.createInsecure(),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    );
  });
  return {
    address: `${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    clients: () => {
      // Asked once per endpoint whose status is looked at: made again only after a client said something.
      known ??= [...sessions].map((s) => s.info()).filter((i): i is ClientInfo => i !== undefined);
      return known;
    },
    close: async () => {
      unsubscribe();
      for (const call of calls) call.end();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

/** The ADS service for grpc-js, with requests decoded and responses written as the bytes the session built. */
function adsDefinition(): ServiceDefinition {
  const path = (method: { name: string }) => `/${AggregatedDiscoveryService.typeName}/${method.name}`;
  const codec = (schema: DescMessage) => ({
    serialize: (message: Message) => Buffer.from(toBinary(schema, message)),
    deserialize: (bytes: Buffer) => fromBinary(schema, bytes),
  });
  const raw = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sotwRequest = codec(DiscoveryRequestSchema);
  const deltaRequest = codec(DeltaDiscoveryRequestSchema);
  return {
    StreamAggregatedResources: {
      path: path(AggregatedDiscoveryService.method.streamAggregatedResources),
      requestStream: true,
      responseStream: true,
      requestSerialize: sotwRequest.serialize,
      requestDeserialize: sotwRequest.deserialize,
      responseSerialize: raw,
      responseDeserialize: codec(DiscoveryResponseSchema).deserialize,
      originalName: "streamAggregatedResources",
    },
    DeltaAggregatedResources: {
      path: path(AggregatedDiscoveryService.method.deltaAggregatedResources),
      requestStream: true,
      responseStream: true,
      requestSerialize: deltaRequest.serialize,
      requestDeserialize: deltaRequest.deserialize,
      responseSerialize: raw,
      responseDeserialize: codec(DeltaDiscoveryResponseSchema).deserialize,
      originalName: "deltaAggregatedResources",
    },
  } as ServiceDefinition;
}
