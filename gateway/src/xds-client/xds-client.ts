import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  NodeSchema,
} from "@dispatch/proto/envoy";
import { type BackoffOptions, backoffDelay } from "@dispatch/server-kit";
import * as grpc from "@grpc/grpc-js";
import type { ResourceCompiler } from "../route-table/resource-compiler.js";
import { assembleSnapshot, emptySnapshot, type GatewaySnapshot } from "../route-table/snapshot.js";
import {
  applyResponse,
  type ClientState,
  compiledResources,
  followReferences,
  heldVersions,
  type IncomingResource,
  initialState,
  isWarm,
  markAbsent,
  pendingNames,
  type SubscriptionChanges,
} from "./resource-state.js";
import { kindOfTypeUrl, type ResourceKind, resourceKinds, resourceTypes } from "./resource-types.js";
import { createRouteConfigurationDecoder } from "./route-decoder.js";

const deltaMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/** google.rpc.Code INVALID_ARGUMENT: what a NACK's `error_detail.code` says. */
const invalidArgument = 3;

/** Where the ADS server is and who this gateway is. */
export interface XdsClientOptions {
  /** `host:port` of the ADS server. */
  readonly address: string;
  /** The node id the server keys this gateway's config by. */
  readonly nodeId: string;
  readonly nodeCluster?: string;
  /** A node token, sent as gRPC metadata `authorization: Bearer <token>`. */
  readonly token?: string;
  /** Channel credentials; default insecure (loopback). */
  readonly credentials?: grpc.ChannelCredentials;
  readonly compiler: ResourceCompiler;
  /** The listener to serve (see `assembleSnapshot`). */
  readonly listenerName?: string;
  /** Reconnect spacing; default 100 ms doubling to 10 s, half random. */
  readonly backoff?: BackoffOptions;
  /** How long a subscribed name may go unanswered before it is taken not to exist; default 15 s (xds_protocol). */
  readonly doesNotExistTimeoutMs?: number;
  readonly log?: (message: string, error?: unknown) => void;
}

/** What happens on the stream, for status reports and tests. */
export type XdsEvent =
  | { readonly kind: "connected" }
  | { readonly kind: "disconnected"; readonly error: unknown }
  | { readonly kind: "ack"; readonly typeUrl: string; readonly nonce: string }
  | { readonly kind: "nack"; readonly typeUrl: string; readonly nonce: string; readonly message: string }
  | { readonly kind: "snapshot"; readonly snapshot: GatewaySnapshot };

/** A Delta ADS client and the configuration it holds. */
export interface XdsClient {
  /** The current snapshot; a request takes it once and keeps it. */
  current(): GatewaySnapshot;
  /** Calls `listener` for every event from now on; returns a function that stops that. */
  onEvent(listener: (event: XdsEvent) => void): () => void;
  /** Ends the stream and stops reconnecting. */
  close(): void;
}

const defaultBackoff: BackoffOptions = { initialMs: 100, maxMs: 10_000, jitter: 0.5 };

/**
 * Starts a Delta ADS client (xds_protocol, "Incremental xDS"): it subscribes
 * to every Listener (`"*"`), then by name to the RouteConfigurations, Clusters
 * and ClusterLoadAssignments they reference, in that order. Each response is
 * compiled as a whole: all of it is ACKed, or it is NACKed with
 * `error_detail` naming each resource it could not apply and the gateway keeps
 * its last accepted config. A new snapshot is published only when everything
 * subscribed has been answered, so routes never point at clusters still on
 * their way. A broken stream is opened again with backoff, sending the
 * versions held as `initial_resource_versions`; the last snapshot keeps
 * serving meanwhile.
 */
export function createXdsClient(options: XdsClientOptions): XdsClient {
  const log = options.log ?? ((message, error) => console.error(`gateway xds: ${message}`, error ?? ""));
  const backoff = options.backoff ?? defaultBackoff;
  const doesNotExistMs = options.doesNotExistTimeoutMs ?? 15_000;
  const client = new grpc.Client(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
    // Large configs arrive as one message per type; bound them generously but not infinitely.
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const listeners = new Set<(event: XdsEvent) => void>();
  const emit = (event: XdsEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        log("an event listener threw", error);
      }
    }
  };

  let state: ClientState = initialState();
  let snapshot: GatewaySnapshot = emptySnapshot;
  let published: ClientState | undefined;
  let closed = false;
  let failures = 0;
  let call: grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  const absentTimers = new Map<string, NodeJS.Timeout>();

  // Each kind's message was decoded with that kind's schema, so it has the type its compiler takes.
  const compilers: Record<ResourceKind, (message: never) => unknown> = {
    listener: options.compiler.listener,
    route: options.compiler.route,
    cluster: options.compiler.cluster,
    endpoint: options.compiler.endpoint,
  };
  const compile = (kind: ResourceKind, message: unknown): unknown => compilers[kind](message as never);
  // Route configurations grow with the endpoints: each keeps the Route objects of its unchanged routes.
  const decodeRoutes = createRouteConfigurationDecoder();
  const decode = (kind: ResourceKind, bytes: Uint8Array): unknown =>
    kind === "route" ? decodeRoutes(bytes) : fromBinary(resourceTypes[kind].schema, bytes);

  const publish = () => {
    if (!isWarm(state) || (published !== undefined && sameResources(published, state))) return;
    published = state;
    snapshot = assembleSnapshot(compiledResources(state), snapshot.generation + 1, options.listenerName);
    emit({ kind: "snapshot", snapshot });
  };

  const startAbsentTimers = () => {
    for (const kind of resourceKinds) {
      for (const name of pendingNames(state, kind)) {
        const key = `${kind}\u0000${name}`;
        if (absentTimers.has(key)) continue;
        const timer = setTimeout(() => {
          absentTimers.delete(key);
          if (closed) return;
          const before = state;
          state = markAbsent(state, kind, name);
          if (state !== before) {
            log(
              `${resourceTypes[kind].label} ${JSON.stringify(name)} was not sent within ${doesNotExistMs} ms; taking it not to exist`,
            );
            publish();
          }
        }, doesNotExistMs);
        timer.unref();
        absentTimers.set(key, timer);
      }
    }
  };

  const send = (request: DeltaDiscoveryRequest) => {
    call?.write(request);
  };

  const sendChanges = (changes: SubscriptionChanges) => {
    for (const kind of resourceKinds) {
      const change = changes[kind];
      if (!change) continue;
      send(
        create(DeltaDiscoveryRequestSchema, {
          typeUrl: resourceTypes[kind].typeUrl,
          resourceNamesSubscribe: change.subscribe,
          resourceNamesUnsubscribe: change.unsubscribe,
        }),
      );
    }
  };

  const onResponse = (response: DeltaDiscoveryResponse) => {
    if (failures > 0) failures = 0;
    const kind = kindOfTypeUrl(response.typeUrl);
    if (!kind) {
      nack(response, `the gateway did not subscribe to ${response.typeUrl}`);
      return;
    }
    const type = resourceTypes[kind];
    const incoming: IncomingResource[] = response.resources.map((r) => {
      let message: unknown;
      if (r.resource && r.resource.typeUrl === type.typeUrl) {
        try {
          message = decode(kind, r.resource.value);
        } catch {
          message = undefined;
        }
      }
      return { name: r.name, version: r.version, message };
    });
    const removed = [...response.removedResources, ...response.removedResourceNames.map((n) => n.name)];
    const result = applyResponse(state, kind, incoming, removed, compile);
    if (!result.ok) {
      nack(response, result.error);
      return;
    }
    state = result.state;
    send(create(DeltaDiscoveryRequestSchema, { typeUrl: response.typeUrl, responseNonce: response.nonce }));
    emit({ kind: "ack", typeUrl: response.typeUrl, nonce: response.nonce });
    const followed = followReferences(state);
    state = followed.state;
    sendChanges(followed.changes);
    startAbsentTimers();
    publish();
  };

  const nack = (response: DeltaDiscoveryResponse, message: string) => {
    log(`rejected ${response.typeUrl} (nonce ${response.nonce}): ${message}`);
    send(
      create(DeltaDiscoveryRequestSchema, {
        typeUrl: response.typeUrl,
        responseNonce: response.nonce,
        errorDetail: { code: invalidArgument, message },
      }),
    );
    emit({ kind: "nack", typeUrl: response.typeUrl, nonce: response.nonce, message });
  };

  const connect = () => {
    if (closed) return;
    const metadata = new grpc.Metadata();
    if (options.token) metadata.set("authorization", `Bearer ${options.token}`);
    const stream = client.makeBidiStreamRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
      deltaMethod,
      (request) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, request)),
      (bytes) => fromBinary(DeltaDiscoveryResponseSchema, bytes),
      metadata,
    );
    call = stream;
    let ended = false;
    const end = (error: unknown) => {
      if (ended) return;
      ended = true;
      if (call === stream) call = undefined;
      if (closed) return;
      failures++;
      if (failures === 1 || failures % 10 === 0)
        log(`the ADS stream to ${options.address} ended; connecting again`, error);
      emit({ kind: "disconnected", error });
      reconnectTimer = setTimeout(connect, backoffDelay(failures, backoff, Math.random));
    };
    stream.on("data", (response: DeltaDiscoveryResponse) => {
      try {
        onResponse(response);
      } catch (error) {
        log("handling a response failed", error);
      }
    });
    stream.on("metadata", () => emit({ kind: "connected" }));
    stream.on("error", (error) => end(error));
    stream.on("end", () => end(new Error("the server ended the stream")));
    // Subscriptions in dependency order; the node goes with the first request only (xds_protocol).
    let first = true;
    for (const kind of resourceKinds) {
      const type = state[kind];
      if (!type.wildcard && type.names.size === 0) continue;
      stream.write(
        create(DeltaDiscoveryRequestSchema, {
          ...(first
            ? {
                node: create(NodeSchema, {
                  id: options.nodeId,
                  cluster: options.nodeCluster ?? "",
                  userAgentName: "dispatch-gateway",
                }),
              }
            : {}),
          typeUrl: resourceTypes[kind].typeUrl,
          resourceNamesSubscribe: type.wildcard ? ["*", ...type.names] : [...type.names],
          initialResourceVersions: heldVersions(state, kind),
        }),
      );
      first = false;
    }
    startAbsentTimers();
  };

  connect();
  return {
    current: () => snapshot,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(reconnectTimer);
      for (const timer of absentTimers.values()) clearTimeout(timer);
      absentTimers.clear();
      call?.cancel();
      call = undefined;
      client.close();
    },
  };
}

/** Whether two states hold the very same compiled resources (nothing to publish). */
function sameResources(a: ClientState, b: ClientState): boolean {
  for (const kind of resourceKinds) {
    const x = a[kind].resources;
    const y = b[kind].resources;
    if (x === y) continue;
    if (x.size !== y.size) return false;
    for (const [name, held] of x) if (y.get(name)?.compiled !== held.compiled) return false;
  }
  return true;
}
