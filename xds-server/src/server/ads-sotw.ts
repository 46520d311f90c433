import { createHash } from "node:crypto";
import type { DiscoveryRequest } from "@dispatch/proto/envoy";
import type { CachedResource } from "../cache/cached-resource.js";
import type { CacheChange, SnapshotCache } from "../cache/snapshot-cache.js";
import type { NackTracker } from "./nack-tracker.js";
import { heldReferences, inPushOrder, mayPush, refKey } from "./push-rules.js";
import {
  type AckEvent,
  AdsProtocolError,
  type ClientInfo,
  type ClientView,
  maxNackMessageLength,
  type NackEvent,
  type NodeInfo,
  nodeInfo,
  streamLimits,
} from "./session-types.js";
import { covers, createSubscription, replaceSotwSubscription, type Subscription } from "./subscription.js";
import type { createResponseEncoder } from "./wire.js";

/** What a session needs from the server. */
export interface SessionContext {
  /** Unique per stream within the server. */
  streamId: number;
  cache: SnapshotCache;
  tracker: NackTracker;
  encoder: ReturnType<typeof createResponseEncoder>;
  /** Writes one encoded response on the stream. */
  send(bytes: Uint8Array): void;
  onAck?(event: AckEvent): void;
  onNack?(event: NackEvent): void;
}

/** One ADS stream's protocol state. */
export interface AdsSession {
  /** Handles one request; throws {@link AdsProtocolError} when the stream must end. */
  handle(request: unknown): void;
  /**
   * Sends whatever the cache has that the client should get now; `change`
   * says what the cache just changed (a session may look at only that).
   */
  sync(change?: CacheChange): void;
  info(): ClientInfo | undefined;
}

// gRPC status codes.
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;

interface TypeState {
  typeUrl: string;
  sub: Subscription;
  /** What the client accepted: the whole content of its last ACKed response. */
  acked: Map<string, CachedResource>;
  answered: Map<string, string>;
  inFlight: { nonce: string; content: CachedResource[]; key: string } | undefined;
  lastNonce: string | undefined;
  /** The content key of the last response sent (ACKed or not). */
  lastKey: string | undefined;
  /** The next sync must answer: a first request, or a changed subscription. */
  respond: boolean;
}

/**
 * State-of-the-world ADS (`StreamAggregatedResources`), per xds_protocol:
 *
 * - each request names the type's whole subscription; the first request of a
 *   type that names nothing, from a client that never named a resource, is
 *   the legacy wildcard, and `"*"` the explicit one;
 * - a request whose `response_nonce` is not the last one sent for its type is
 *   stale and ignored;
 * - `error_detail` makes a request a NACK: the client keeps what it had, and
 *   the refused content is never sent to that node again;
 * - one response per type is in flight at a time; responses go out in push
 *   order (CDS, EDS, LDS, RDS), a route configuration only once the clusters
 *   it names have been answered, and a resource gone from the cache is left
 *   out (for LDS and CDS: removed) only after every response that added or
 *   changed something, and only once nothing the client holds names it;
 * - a response is sent only when its content changed, or the client asked.
 */
export function createSotwSession(ctx: SessionContext): AdsSession {
  const states = new Map<string, TypeState>();
  let node: NodeInfo | undefined;
  let nonceCounter = 0;
  // Refusals are remembered per node; a client without a node id only for its own stream.
  const trackerKey = () => (node?.id ? `node:${node.id}` : `stream:${ctx.streamId}`);

  const view: ClientView = {
    subscription: (t) => states.get(t)?.sub,
    acked: (t) => states.get(t)?.acked,
    inFlight: (t) => states.get(t)?.inFlight?.content ?? [],
    answered: (t, name) => states.get(t)?.answered.get(name),
  };

  const settle = (st: TypeState, error: DiscoveryRequest["errorDetail"]) => {
    const flight = st.inFlight;
    if (!flight || !node) return;
    st.inFlight = undefined;
    st.answered = new Map(flight.content.map((r) => [r.name, r.version]));
    const event: AckEvent = {
      node,
      protocol: "sotw",
      typeUrl: st.typeUrl,
      nonce: flight.nonce,
      resources: flight.content.map((r) => ({ name: r.name, version: r.version })),
      removed: [...st.acked.keys()].filter((name) => !flight.content.some((r) => r.name === name)),
    };
    if (error) {
      ctx.tracker.reject(trackerKey(), st.typeUrl, `sotw:${flight.key}`);
      ctx.onNack?.({ ...event, code: error.code, message: error.message.slice(0, maxNackMessageLength) });
    } else {
      st.acked = new Map(flight.content.map((r) => [r.name, r]));
      ctx.onAck?.(event);
    }
  };

  /** What the client should hold of the type now. */
  const content = (st: TypeState, pass: 1 | 2, referenced: Set<string>): CachedResource[] => {
    const current = ctx.cache.get(st.typeUrl);
    const out = new Map<string, CachedResource>();
    const names = st.sub.wildcard ? current.keys() : st.sub.names.values();
    for (const name of names) {
      const resource = current.get(name);
      if (!resource) continue;
      if (mayPush(view, ctx.cache, resource)) out.set(name, resource);
      else {
        // Held back: the client keeps what it has of it (SotW must not drop it).
        const held = st.acked.get(name);
        if (held) out.set(name, held);
      }
    }
    // A resource gone from the cache stays in the content while the client may
    // still use it: in the first pass always (removals come last), in the
    // second while something the client holds names it. For LDS and CDS,
    // leaving it out removes it; for the others it only stops being updated.
    for (const [name, held] of st.acked) {
      if (out.has(name) || current.has(name) || !covers(st.sub, name)) continue;
      if (pass === 1 || referenced.has(refKey(st.typeUrl, name))) out.set(name, held);
    }
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  };

  const syncType = (st: TypeState, pass: 1 | 2, referenced: Set<string>) => {
    if (st.inFlight || !node) return;
    const resources = content(st, pass, referenced);
    const key = contentKey(resources);
    if (!st.respond && key === st.lastKey) return;
    st.respond = false;
    if (ctx.tracker.isRejected(trackerKey(), st.typeUrl, `sotw:${key}`)) return;
    const nonce = String(++nonceCounter);
    st.inFlight = { nonce, content: resources, key };
    st.lastNonce = nonce;
    st.lastKey = key;
    ctx.send(ctx.encoder.sotw({ versionInfo: key, resources, typeUrl: st.typeUrl, nonce }));
  };

  const sync = () => {
    const order = inPushOrder(states.keys());
    const none = new Set<string>();
    for (const typeUrl of order) {
      const st = states.get(typeUrl);
      if (st) syncType(st, 1, none);
    }
    const referenced = heldReferences(view, order);
    for (const typeUrl of order) {
      const st = states.get(typeUrl);
      if (st) syncType(st, 2, referenced);
    }
  };

  return {
    handle(raw) {
      const request = raw as DiscoveryRequest;
      node ??= nodeInfo(request.node);
      const typeUrl = request.typeUrl;
      if (typeUrl === "") throw new AdsProtocolError(INVALID_ARGUMENT, "a DiscoveryRequest needs a type_url");
      checkNames(request.resourceNames);
      let st = states.get(typeUrl);
      if (!st) {
        if (states.size >= streamLimits.types) {
          throw new AdsProtocolError(
            RESOURCE_EXHAUSTED,
            `a stream may subscribe to at most ${streamLimits.types} types`,
          );
        }
        st = {
          typeUrl,
          sub: createSubscription(),
          acked: new Map(),
          answered: new Map(),
          inFlight: undefined,
          lastNonce: undefined,
          lastKey: undefined,
          respond: true,
        };
        states.set(typeUrl, st);
      }
      if (request.responseNonce === "") {
        // A first request for the type (or the client starting it over).
        st.respond = true;
      } else if (request.responseNonce !== st.lastNonce) {
        // xds_protocol: a stale nonce; a newer request supersedes this one.
        return;
      } else if (st.inFlight?.nonce === request.responseNonce) {
        settle(st, request.errorDetail);
      }
      if (replaceSotwSubscription(st.sub, request.resourceNames)) st.respond = true;
      sync();
    },
    sync,
    info: () =>
      node && {
        node,
        protocol: "sotw",
        acked: new Map(
          [...states].map(([t, st]) => [t, new Map([...st.acked].map(([n, r]) => [n, r.version]))]),
        ),
      },
  };
}

/** A SotW response's content, as one string: sent as `version_info`, and what a NACK refuses. */
function contentKey(resources: readonly CachedResource[]): string {
  const hash = createHash("sha256");
  for (const r of resources) hash.update(`${r.name}\n${r.version}\n`);
  return hash.digest("base64url").slice(0, 22);
}

/** Names a request may carry (shared by both protocols). */
export function checkNames(names: readonly string[]): void {
  if (names.length > streamLimits.names) {
    throw new AdsProtocolError(
      RESOURCE_EXHAUSTED,
      `a request may name at most ${streamLimits.names} resources`,
    );
  }
  for (const name of names) {
    if (name.length > streamLimits.nameLength) {
      throw new AdsProtocolError(
        INVALID_ARGUMENT,
        `resource names are at most ${streamLimits.nameLength} characters long`,
      );
    }
  }
}
