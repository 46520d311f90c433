import type { DeltaDiscoveryRequest } from "@dispatch/proto/envoy";
import type { CachedResource } from "../cache/cached-resource.js";
import type { CacheChange } from "../cache/snapshot-cache.js";
import { type AdsSession, checkNames, type SessionContext } from "./ads-sotw.js";
import { heldReferences, inPushOrder, mayPush, refKey } from "./push-rules.js";
import {
  type AckEvent,
  AdsProtocolError,
  type ClientView,
  type Held,
  maxNackMessageLength,
  type NodeInfo,
  nodeInfo,
  streamLimits,
} from "./session-types.js";
import { applyDeltaSubscription, covers, createSubscription, type Subscription } from "./subscription.js";

// gRPC status codes.
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;

interface TypeState {
  typeUrl: string;
  sub: Subscription;
  /** What the client holds, as far as its ACKs (and initial_resource_versions) say. */
  acked: Map<string, Held>;
  answered: Map<string, string>;
  inFlight: { nonce: string; upserts: CachedResource[]; removals: string[] } | undefined;
  /** Names to send even if the client has them (named again, or explicitly dropped under a wildcard). */
  force: Set<string>;
  /** Subscribed names already answered as absent. */
  toldAbsent: Set<string>;
  /**
   * What the next sync must look at: every resource ("all": a new stream, a
   * changed subscription, a NACK), or the names the cache changed (added,
   * changed or removed) since the last sync that answered this type.
   */
  dirty: Set<string> | "all";
  /** Routes held back until their clusters are answered (push rules): looked at on every sync. */
  held: Set<string>;
}

/**
 * Incremental ADS (`DeltaAggregatedResources`), per xds_protocol "Incremental xDS":
 *
 * - subscriptions change by `resource_names_subscribe` / `_unsubscribe`, and
 *   are honoured even on a request whose nonce is stale; the nonce only ties
 *   an ACK or NACK to its response;
 * - on a new stream, `initial_resource_versions` says what the client has: only
 *   what differs is sent, and what no longer exists is removed;
 * - a name subscribed again is sent even if the client has it; one asked for
 *   that does not exist is answered in `removed_resources`; one explicitly
 *   unsubscribed while the wildcard still covers it is sent again (or removed);
 * - a NACK marks each resource of the response, at its version, as refused by
 *   that node: none is sent to it again until it changes;
 * - the same ordering and make-before-break rules as SotW: types in push
 *   order, routes after their clusters, removals after everything else and
 *   only once nothing the client holds names them.
 */
export function createDeltaSession(ctx: SessionContext): AdsSession {
  const states = new Map<string, TypeState>();
  let node: NodeInfo | undefined;
  let nonceCounter = 0;
  // Refusals are remembered per node; a client without a node id only for its own stream.
  const trackerKey = () => (node?.id ? `node:${node.id}` : `stream:${ctx.streamId}`);

  const view: ClientView = {
    subscription: (t) => states.get(t)?.sub,
    acked: (t) => states.get(t)?.acked,
    inFlight: (t) => states.get(t)?.inFlight?.upserts ?? [],
    answered: (t, name) => states.get(t)?.answered.get(name),
  };

  const settle = (st: TypeState, error: DeltaDiscoveryRequest["errorDetail"]) => {
    const flight = st.inFlight;
    if (!flight || !node) return;
    st.inFlight = undefined;
    for (const r of flight.upserts) st.answered.set(r.name, r.version);
    const event: AckEvent = {
      node,
      protocol: "delta",
      typeUrl: st.typeUrl,
      nonce: flight.nonce,
      resources: flight.upserts.map((r) => ({ name: r.name, version: r.version })),
      removed: flight.removals,
    };
    if (error) {
      for (const r of flight.upserts) ctx.tracker.reject(trackerKey(), st.typeUrl, `${r.name}@${r.version}`);
      for (const name of flight.removals) ctx.tracker.reject(trackerKey(), st.typeUrl, `${name}@`);
      ctx.onNack?.({ ...event, code: error.code, message: error.message.slice(0, maxNackMessageLength) });
      return;
    }
    for (const r of flight.upserts) if (covers(st.sub, r.name)) st.acked.set(r.name, r);
    for (const name of flight.removals) {
      st.acked.delete(name);
      st.answered.delete(name);
    }
    ctx.onAck?.(event);
  };

  /**
   * The resources of one type the client should get now. Only what may have
   * changed for it is looked at (see {@link TypeState.dirty}), so a change of
   * one resource costs each client a look at that one, not at all of them.
   */
  const upserts = (st: TypeState): { resources: CachedResource[]; absent: string[] } => {
    if (!node) return { resources: [], absent: [] };
    const current = ctx.cache.get(st.typeUrl);
    const resources: CachedResource[] = [];
    // Undefined: look at everything.
    const look = st.dirty === "all" ? undefined : new Set([...st.dirty, ...st.held, ...st.force]);
    let candidates: Iterable<CachedResource>;
    if (!look) {
      candidates = st.sub.wildcard
        ? current.values()
        : [...new Set([...st.sub.names, ...st.force])].flatMap((name) => current.get(name) ?? []);
    } else {
      candidates = [...look].flatMap((name) => {
        const r = current.get(name);
        return r && (covers(st.sub, name) || st.force.has(name)) ? [r] : [];
      });
    }
    st.dirty = new Set();
    st.held = new Set();
    for (const r of candidates) {
      const forced = st.force.has(r.name);
      if (!forced && st.acked.get(r.name)?.version === r.version) continue;
      if (ctx.tracker.isRejected(trackerKey(), st.typeUrl, `${r.name}@${r.version}`)) {
        st.force.delete(r.name);
        continue;
      }
      if (mayPush(view, ctx.cache, r)) resources.push(r);
      else st.held.add(r.name);
    }
    // A subscribed name that does not exist is answered as removed, once; a
    // forced one (dropped explicitly under a wildcard) is removed at once.
    const absent: string[] = [];
    for (const name of look ?? new Set([...st.sub.names, ...st.force])) {
      if (current.has(name) || !(st.sub.names.has(name) || st.force.has(name))) continue;
      if (st.force.has(name) || (!st.acked.has(name) && !st.toldAbsent.has(name))) absent.push(name);
    }
    return { resources, absent };
  };

  const removals = (st: TypeState, referenced: () => Set<string>): string[] => {
    if (!node) return [];
    const current = ctx.cache.get(st.typeUrl);
    const out: string[] = [];
    for (const name of st.acked.keys()) {
      if (current.has(name) || !covers(st.sub, name) || referenced().has(refKey(st.typeUrl, name))) continue;
      if (ctx.tracker.isRejected(trackerKey(), st.typeUrl, `${name}@`)) continue;
      out.push(name);
    }
    return out;
  };

  const send = (st: TypeState, resources: CachedResource[], removed: string[]) => {
    if (resources.length === 0 && removed.length === 0) return;
    resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    removed.sort();
    const nonce = String(++nonceCounter);
    st.inFlight = { nonce, upserts: resources, removals: removed };
    for (const r of resources) {
      st.force.delete(r.name);
      st.toldAbsent.delete(r.name);
    }
    for (const name of removed) {
      st.force.delete(name);
      st.toldAbsent.add(name);
    }
    ctx.send(
      ctx.encoder.delta({
        systemVersionInfo: String(ctx.cache.generation),
        resources,
        removed,
        typeUrl: st.typeUrl,
        nonce,
      }),
    );
  };

  const sync = (change?: CacheChange) => {
    for (const [typeUrl, changed] of change ?? []) {
      const st = states.get(typeUrl);
      if (!st || st.dirty === "all") continue;
      for (const name of changed.upserted) st.dirty.add(name);
      for (const name of changed.removed) st.dirty.add(name);
    }
    const order = inPushOrder(states.keys());
    // First every addition and change, in push order; then the removals.
    for (const typeUrl of order) {
      const st = states.get(typeUrl);
      if (!st || st.inFlight) continue;
      const { resources, absent } = upserts(st);
      send(st, resources, absent);
    }
    // What the client holds names is worked out only if something is to be removed.
    let referenced: Set<string> | undefined;
    const held = () => {
      referenced ??= heldReferences(view, order);
      return referenced;
    };
    for (const typeUrl of order) {
      const st = states.get(typeUrl);
      if (!st || st.inFlight) continue;
      send(st, [], removals(st, held));
    }
  };

  return {
    handle(raw) {
      const request = raw as DeltaDiscoveryRequest;
      node ??= nodeInfo(request.node);
      const typeUrl = request.typeUrl;
      if (typeUrl === "")
        throw new AdsProtocolError(INVALID_ARGUMENT, "a DeltaDiscoveryRequest needs a type_url");
      checkNames(request.resourceNamesSubscribe);
      checkNames(request.resourceNamesUnsubscribe);
      let st = states.get(typeUrl);
      const first = !st;
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
          force: new Set(),
          toldAbsent: new Set(),
          dirty: "all",
          held: new Set(),
        };
        states.set(typeUrl, st);
        // What the client kept from an earlier stream: only differences are sent.
        const initial = Object.entries(request.initialResourceVersions);
        checkNames(initial.map(([name]) => name));
        for (const [name, version] of initial) {
          const cached = ctx.cache.resource(typeUrl, name);
          st.acked.set(name, {
            name,
            version,
            references: cached && cached.version === version ? cached.references : [],
          });
        }
      }
      const { subscribed, unsubscribed } = applyDeltaSubscription(
        st.sub,
        request.resourceNamesSubscribe,
        request.resourceNamesUnsubscribe,
        first,
      );
      if (st.sub.names.size > streamLimits.names) {
        throw new AdsProtocolError(
          RESOURCE_EXHAUSTED,
          `a stream may subscribe to at most ${streamLimits.names} names`,
        );
      }
      for (const name of subscribed) {
        st.toldAbsent.delete(name);
        // xds_protocol: a name subscribed (again) is sent even if the client has it,
        // except on the first request, where initial_resource_versions say what it has.
        if (!first) st.force.add(name);
      }
      for (const name of unsubscribed) {
        if (st.sub.wildcard) st.force.add(name);
        else {
          st.acked.delete(name);
          st.force.delete(name);
          st.toldAbsent.delete(name);
        }
      }
      if (!st.sub.wildcard) {
        // Dropped from the wildcard: the client forgets what it held only through it.
        for (const name of [...st.acked.keys()]) if (!st.sub.names.has(name)) st.acked.delete(name);
      }
      // A new subscription, or a refusal, means looking at every resource again.
      if (
        request.resourceNamesSubscribe.length > 0 ||
        request.resourceNamesUnsubscribe.length > 0 ||
        request.errorDetail
      ) {
        st.dirty = "all";
      }
      if (request.responseNonce !== "" && st.inFlight?.nonce === request.responseNonce) {
        settle(st, request.errorDetail);
      }
      sync();
    },
    sync,
    info: () =>
      node && {
        node,
        protocol: "delta",
        acked: new Map(
          [...states].map(([t, st]) => [t, new Map([...st.acked].map(([n, r]) => [n, r.version]))]),
        ),
      },
  };
}
