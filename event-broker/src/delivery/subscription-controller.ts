import { setMaxListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { createWatchCache, type DispatchClients } from "@dispatch/client";
import { Phase, type Subscription, type SubscriptionStatus, SubscriptionStatusSchema } from "@dispatch/proto";
import { createReconciler, markFalse, markTrue } from "@dispatch/server-kit";
import type { ConsumerInfo } from "@nats-io/jetstream";
import { compileFilters, filterProblems } from "../filters/filters.js";
import type { EventStore } from "../store/event-store.js";
import { streamName } from "../store/layout.js";
import { createSubscriptionConsumers, subscriptionBroker, wantedConsumer } from "./consumers.js";
import type { Deliver } from "./deliver.js";
import { deliveryPolicy } from "./policy.js";
import { type DeliveryCounters, type Runner, type RunnerTarget, startRunner } from "./subscription-runner.js";

/** Options of {@link startSubscriptionController}. */
export interface SubscriptionControllerOptions {
  /** The API, with a component token: it reads every org's subscriptions and writes their status. */
  clients: Pick<DispatchClients, "subscriptions">;
  store: EventStore;
  deliver: Deliver;
  /** How often each subscription's figures (pending, delivered, …) are read and written; default 5 s. */
  statsIntervalMs?: number;
  log(message: string, error?: unknown): void;
  now?: () => Date;
}

export interface SubscriptionController {
  readonly synced: Promise<void>;
  /** Counts a delivery made outside the runners (a redelivery) in the subscription's figures. */
  delivered(org: string, subscription: string): void;
  /** The subscriptions delivering now, by `org/name`. */
  running(): ReadonlyMap<string, RunnerTarget>;
  /** Resolves when no reconcile and no status write is pending. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const broker = subscriptionBroker;

/**
 * The dispatcher's controller: follows Subscriptions (every org, through a
 * watch cache) and keeps, for each, a durable JetStream consumer on its
 * broker's stream that reads only the subjects its filters can match, and a
 * runner that delivers from it. A new filter is a new consumer that starts
 * where the old one had acknowledged, so an update loses no event. Status:
 * READY once its consumer exists and its runner reads it, with the figures
 * (pending, delivered, failed, dead-lettered) refreshed every few seconds.
 */
export function startSubscriptionController(options: SubscriptionControllerOptions): SubscriptionController {
  const stop = new AbortController();
  const signal = stop.signal;
  setMaxListeners(0, signal);
  const now = options.now ?? (() => new Date());
  const { store } = options;
  const cache = createWatchCache({
    client: options.clients.subscriptions,
    request: { allOrgs: true },
    signal,
  });
  const runners = new Map<string, { uid: string; generation: bigint; runner: Runner }>();
  const counters = new Map<string, DeliveryCounters & { uid: string }>();
  const written = new Map<string, SubscriptionStatus>();
  const consumers = createSubscriptionConsumers(store, (message) => options.log(message));

  const stopRunner = async (key: string) => {
    const running = runners.get(key);
    runners.delete(key);
    await running?.runner.stop();
  };

  const reconciler = createReconciler<Subscription, SubscriptionStatus>({
    events: cache.events({ signal }),
    needsReconcile: (previous, next) => previous.meta?.generation !== next.meta?.generation,
    reconcile: async ({ key, object }) => {
      if (!object) {
        await stopRunner(key);
        counters.delete(key);
        written.delete(key);
        const [org, name] = key.split("/") as [string, string];
        await consumers.remove(org, name);
        // Its dead letters go with it: a new subscription of the same name starts clean.
        await store.purgeDeadLetters(org, name);
        return undefined;
      }
      const org = object.meta?.org ?? "";
      const name = object.meta?.name ?? "";
      const spec = object.spec;
      const base = statusBase(object);
      const problems = filterProblems(spec?.filters ?? [], "spec.filters");
      const wanted = wantedConsumer(object);
      if (!spec || !wanted) {
        await stopRunner(key);
        return errorStatus(
          base,
          problems.map((p) => `${p.path} ${p.message}`).join("; ") || "it has no spec",
        );
      }
      const { consumer } = wanted;
      const policy = deliveryPolicy(object);
      const uid = object.meta?.uid ?? "";
      const generation = object.meta?.generation ?? 0n;
      const running = runners.get(key);
      // A resync (the watch reconnected, a retry) of what already runs changes nothing: the
      // runner goes on, and no delivery in flight is cut off (and sent again).
      if (
        running &&
        running.uid === uid &&
        running.generation === generation &&
        running.runner.target.consumer === consumer
      ) {
        return figures(key, readyStatus(base));
      }
      await store.ensureBroker(org, broker);
      // The runner of the old spec stops first (deliveries in flight finish), and its acks reach
      // the server: a new consumer then starts right after what the old one finished.
      await stopRunner(key);
      await store.flush();
      await consumers.ensure(object, wanted);
      const target: RunnerTarget = {
        org,
        broker,
        subscription: name,
        function: spec.function,
        consumer,
        matches: compileFilters(spec.filters),
        policy,
      };
      const count = counters.get(key);
      if (!count || count.uid !== uid) {
        counters.set(key, {
          uid,
          delivered: Number(object.status?.delivered ?? 0n),
          failed: Number(object.status?.failed ?? 0n),
        });
      }
      runners.set(key, {
        uid,
        generation,
        runner: startRunner({
          target,
          store,
          deliver: options.deliver,
          counters: counters.get(key) as DeliveryCounters,
          // Gone from under it (deleted by hand, a stream reset): make it again.
          onConsumerMissing: () => reconciler.enqueue(key),
          log: options.log,
        }),
      });
      return figures(key, readyStatus(base));
    },
    writeStatus: async (key, status) => write(key, status),
    // Gentle with JetStream's API when thousands of subscriptions resync at once.
    concurrency: 16,
    log: options.log,
  });

  const write = async (key: string, status: SubscriptionStatus) => {
    const object = reconciler.get(key);
    if (!object) return;
    try {
      await options.clients.subscriptions.updateStatus(
        { subscription: { meta: object.meta, status } },
        { signal },
      );
      written.set(key, status);
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) return;
      throw err;
    }
  };

  function statusBase(object: Subscription): SubscriptionStatus {
    return create(SubscriptionStatusSchema, {
      conditions: object.status?.conditions ?? [],
      observedGeneration: object.meta?.generation ?? 0n,
      delivered: object.status?.delivered ?? 0n,
      failed: object.status?.failed ?? 0n,
      deadLettered: object.status?.deadLettered ?? 0n,
      pending: object.status?.pending ?? 0n,
    });
  }
  function readyStatus(status: SubscriptionStatus): SubscriptionStatus {
    const at = now();
    status.phase = Phase.READY;
    status.reason = [];
    status.conditions = markTrue(
      status.conditions,
      "ConsumerReady",
      "Created",
      "its consumer reads the broker's stream",
      at,
    );
    status.conditions = markTrue(status.conditions, "Ready", "Delivering", "", at);
    return status;
  }
  function errorStatus(status: SubscriptionStatus, why: string): SubscriptionStatus {
    const at = now();
    status.phase = Phase.ERROR;
    status.reason = [why];
    status.conditions = markFalse(status.conditions, "Ready", "InvalidFilter", why, at);
    return status;
  }

  /**
   * The status with the subscription's figures as JetStream and the runner see
   * them now; when they cannot be read, the status as it is (the next refresh
   * reads them): figures never fail a reconcile.
   */
  async function figures(key: string, status: SubscriptionStatus): Promise<SubscriptionStatus> {
    const running = runners.get(key);
    if (!running) return status;
    const { org, consumer } = running.runner.target;
    try {
      const info = await store.jsm.consumers.info(streamName(org, broker), consumer);
      return withFigures(key, status, info, await store.deadLetterCounts(org));
    } catch (err) {
      if (!signal.aborted) options.log(`the figures of subscription ${key} could not be read`, err);
      return withFigures(key, status, undefined, undefined);
    }
  }

  /** `status` with the figures of a subscription: its consumer's pending, its dead letters, its counters. */
  function withFigures(
    key: string,
    status: SubscriptionStatus,
    info: ConsumerInfo | undefined,
    dead: ReadonlyMap<string, number> | undefined,
  ): SubscriptionStatus {
    const running = runners.get(key);
    const count = counters.get(key);
    const next = create(SubscriptionStatusSchema, { ...status, observed: timestampNow() });
    if (info) next.pending = BigInt(info.num_pending + info.num_ack_pending);
    if (dead && running) next.deadLettered = BigInt(dead.get(running.runner.target.subscription) ?? 0);
    if (count) {
      next.delivered = BigInt(count.delivered);
      next.failed = BigInt(count.failed);
    }
    return next;
  }

  // Consumers left behind (subscriptions deleted while the broker was not running, or an
  // earlier spec's), once the first full list of subscriptions is known.
  void reconciler.synced.then(
    () =>
      consumers
        .sweep(() => cache.list())
        .catch((err) => options.log("stale consumers could not be looked for", err)),
    () => {},
  );

  // The figures: read every few seconds, written when they moved. Per org, one listing of its
  // broker's consumers and one count of its dead letters by subject serve every subscription.
  const interval = setInterval(() => void refreshAll(), options.statsIntervalMs ?? 5000);
  interval.unref();
  let refreshing = false;
  async function refreshAll() {
    if (refreshing || signal.aborted) return;
    refreshing = true;
    try {
      const byOrg = new Map<string, string[]>();
      for (const [key, running] of runners) {
        const keys = byOrg.get(running.runner.target.org) ?? [];
        keys.push(key);
        byOrg.set(running.runner.target.org, keys);
      }
      for (const [org, keys] of byOrg) {
        try {
          await refreshOrg(org, keys);
        } catch (err) {
          if (!signal.aborted)
            options.log(`the figures of org ${org}'s subscriptions could not be read`, err);
        }
      }
    } finally {
      refreshing = false;
    }
  }
  async function refreshOrg(org: string, keys: string[]) {
    const listed = new Map<string, ConsumerInfo>();
    for await (const info of store.jsm.consumers.list(streamName(org, broker))) listed.set(info.name, info);
    const dead = await store.deadLetterCounts(org);
    for (const key of keys) {
      const running = runners.get(key);
      const last = written.get(key);
      const info = running ? listed.get(running.runner.target.consumer) : undefined;
      if (!running || !last || last.phase !== Phase.READY || !info) continue;
      const next = withFigures(key, last, info, dead);
      if (
        next.pending !== last.pending ||
        next.delivered !== last.delivered ||
        next.failed !== last.failed ||
        next.deadLettered !== last.deadLettered
      ) {
        // Only over the status it was computed from: a reconcile that wrote meanwhile (a new
        // generation, an ERROR) is newer, and wins.
        void reconciler.report(key, () => (written.get(key) === last ? next : undefined));
      }
    }
  }

  return {
    synced: reconciler.synced,
    running: () => new Map([...runners].map(([key, running]) => [key, running.runner.target])),
    delivered(org, subscription) {
      const count = counters.get(`${org}/${subscription}`);
      if (count) count.delivered += 1;
    },
    idle: () => reconciler.idle(),
    async close() {
      clearInterval(interval);
      stop.abort();
      await reconciler.close();
      await Promise.allSettled([...runners.keys()].map(stopRunner));
      await cache.done;
    },
  };
}
