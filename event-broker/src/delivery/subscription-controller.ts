import { setMaxListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { createWatchCache, type DispatchClients } from "@dispatch/client";
import { Phase, type Subscription, type SubscriptionStatus, SubscriptionStatusSchema } from "@dispatch/proto";
import { createReconciler, markFalse, markTrue } from "@dispatch/server-kit";
import { AckPolicy, type ConsumerConfig, type ConsumerInfo, DeliverPolicy } from "@nats-io/jetstream";
import { compileFilters, filterProblems } from "../filters/filters.js";
import type { EventStore } from "../store/event-store.js";
import { consumerName, filterSubject, isConsumerOf, streamName } from "../store/layout.js";
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

/** Every subscription reads the default broker (the only one so far). */
const broker = "default";

/** JetStream redelivers an event whose delivery stopped without word (a crash) after this long. */
const ackWaitMs = 30_000;

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
        await deleteConsumers(org, name);
        // Its dead letters go with it: a new subscription of the same name starts clean.
        await store.purgeDeadLetters(org, name);
        return undefined;
      }
      const org = object.meta?.org ?? "";
      const name = object.meta?.name ?? "";
      const spec = object.spec;
      const base = statusBase(object);
      const problems = filterProblems(spec?.filters ?? [], "spec.filters");
      if (!spec || problems.length > 0) {
        await stopRunner(key);
        return errorStatus(
          base,
          problems.map((p) => `${p.path} ${p.message}`).join("; ") || "it has no spec",
        );
      }
      const subject = filterSubject(org, broker, spec.filters);
      const policy = deliveryPolicy(object);
      const consumer = consumerName(name, subject, consumerSettings(policy.concurrency));
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
      await ensureConsumer(org, name, consumer, subject, object, policy.concurrency);
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
    const count = counters.get(key);
    if (!running || !count) return status;
    const { org, subscription, consumer } = running.runner.target;
    try {
      const info = await store.jsm.consumers.info(streamName(org, broker), consumer);
      status.pending = BigInt(info.num_pending + info.num_ack_pending);
      status.deadLettered = BigInt(await store.deadLetterCount(org, subscription));
    } catch (err) {
      if (!signal.aborted) options.log(`the figures of subscription ${key} could not be read`, err);
    }
    status.delivered = BigInt(count.delivered);
    status.failed = BigInt(count.failed);
    status.observed = timestampNow();
    return status;
  }

  /**
   * The subscription's consumer exists as its spec wants it (its name says its
   * filter subject and settings). A new one goes on where the ones of its
   * earlier specs had acknowledged everything (the highest ack floor), and is
   * made before they are removed, so a failure between the two loses no
   * position; a consumer of a deleted subscription of the same name goes.
   */
  async function ensureConsumer(
    org: string,
    name: string,
    consumer: string,
    subject: string,
    object: Subscription,
    concurrency: number,
  ) {
    const stream = streamName(org, broker);
    const jsm = store.jsm;
    const description = describe(object);
    // The common case (a restart, a resync): there as it should be. One lookup.
    const found = await jsm.consumers.info(stream, consumer).catch(() => undefined);
    if (found?.config.description === description) return;
    const mine: ConsumerInfo[] = [];
    const strangers: string[] = [];
    for (const info of await consumersOf(stream, name)) {
      if (info.config.description === description) mine.push(info);
      else strangers.push(info.name);
    }
    // A deleted subscription's consumer holds no position of ours: it goes first.
    for (const stranger of strangers) await jsm.consumers.delete(stream, stranger);
    let start: Partial<ConsumerConfig> = startOf(object);
    const floor = Math.max(0, ...mine.map((info) => info.ack_floor.stream_seq));
    // Nothing acknowledged yet: where it started is still right.
    if (floor > 0) start = { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: floor + 1 };
    await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      filter_subject: subject,
      max_deliver: -1,
      ...consumerSettings(concurrency),
      description,
      ...start,
    });
    for (const old of mine) await jsm.consumers.delete(stream, old.name);
  }

  /** Every consumer of a subscription in a stream (listed whole before anything is deleted). */
  async function consumersOf(stream: string, name: string): Promise<ConsumerInfo[]> {
    const found: ConsumerInfo[] = [];
    for await (const info of store.jsm.consumers.list(stream))
      if (isConsumerOf(info.name, name)) found.push(info);
    return found;
  }

  async function deleteConsumers(org: string, name: string) {
    const stream = streamName(org, broker);
    let consumers: ConsumerInfo[];
    try {
      consumers = await consumersOf(stream, name);
    } catch (err) {
      // No stream: no consumer either.
      if (String(err).includes("stream not found")) return;
      throw err;
    }
    for (const info of consumers) await store.jsm.consumers.delete(stream, info.name);
  }

  /**
   * Consumers whose subscription is gone (deleted while the broker was not
   * running, so no delete reached it): removed once the first full list of
   * subscriptions is known.
   */
  async function sweep() {
    const wanted = () => {
      const names = new Map<string, string>();
      for (const sub of cache.list()) {
        const org = sub.meta?.org ?? "";
        const name = sub.meta?.name ?? "";
        const filters = sub.spec?.filters ?? [];
        if (filterProblems(filters).length > 0) continue;
        const concurrency = deliveryPolicy(sub).concurrency;
        names.set(
          describe(sub),
          consumerName(name, filterSubject(org, broker, filters), consumerSettings(concurrency)),
        );
      }
      return names;
    };
    const streams: string[] = [];
    for await (const stream of store.jsm.streams.names())
      if (stream.startsWith("EVENTS_")) streams.push(stream);
    for (const stream of streams) {
      const consumers: ConsumerInfo[] = [];
      for await (const info of store.jsm.consumers.list(stream))
        if (info.name.startsWith("sub-")) consumers.push(info);
      for (const info of consumers) {
        const owner = info.config.description ?? "";
        if (!owner.startsWith("Dispatch subscription ")) continue;
        const keep = wanted().get(owner);
        if (keep === info.name) continue;
        // Left from an earlier spec of a subscription that exists: it goes once the current one
        // exists (until then it holds the position the current one will start from).
        if (keep !== undefined && !consumers.some((c) => c.name === keep)) continue;
        await store.jsm.consumers.delete(stream, info.name);
        options.log(
          `removed the consumer ${info.name} (${owner}): ${keep === undefined ? "its subscription no longer exists" : "left from an earlier spec"}`,
        );
      }
    }
  }

  void reconciler.synced.then(
    () => sweep().catch((err) => options.log("stale consumers could not be looked for", err)),
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
    const consumers = new Map<string, ConsumerInfo>();
    for await (const info of store.jsm.consumers.list(streamName(org, broker)))
      consumers.set(info.name, info);
    const dead = await store.deadLetterCounts(org);
    for (const key of keys) {
      const running = runners.get(key);
      const last = written.get(key);
      const count = counters.get(key);
      const info = running ? consumers.get(running.runner.target.consumer) : undefined;
      if (!running || !last || last.phase !== Phase.READY || !count || !info) continue;
      const next = create(SubscriptionStatusSchema, {
        ...last,
        pending: BigInt(info.num_pending + info.num_ack_pending),
        deadLettered: BigInt(dead.get(running.runner.target.subscription) ?? 0),
        delivered: BigInt(count.delivered),
        failed: BigInt(count.failed),
        observed: timestampNow(),
      });
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

/** Where a new subscription starts reading. */
/** How a consumer names its subscription (org, name and uid: a re-created one is another). */
function describe(object: Subscription): string {
  return `Dispatch subscription ${object.meta?.org ?? ""}/${object.meta?.name ?? ""} (uid ${object.meta?.uid ?? ""})`;
}

/** What a consumer is made with besides its filter: part of its name, so a change makes a new one. */
function consumerSettings(concurrency: number): { ack_wait: number; max_ack_pending: number } {
  return { ack_wait: ackWaitMs * 1_000_000, max_ack_pending: concurrency };
}

function startOf(object: Subscription): Partial<ConsumerConfig> {
  const position = object.spec?.startFrom?.position;
  switch (position?.case) {
    case "all":
      return { deliver_policy: DeliverPolicy.All };
    case "time":
      return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: rfc3339Nano(position.value) };
    default: {
      // "From now" is from when the subscription was created, not from when its consumer was:
      // an event sent right after create is delivered.
      const created = object.meta?.created;
      return created
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: rfc3339Nano(created) }
        : { deliver_policy: DeliverPolicy.New };
    }
  }
}

/** RFC 3339 with nanoseconds (JetStream's start times are that precise). */
function rfc3339Nano(time: Timestamp): string {
  const whole = new Date(Number(time.seconds) * 1000).toISOString().slice(0, 19);
  return `${whole}.${String(time.nanos).padStart(9, "0")}Z`;
}
