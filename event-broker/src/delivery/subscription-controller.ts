import { setMaxListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { createWatchCache, type DispatchClients } from "@dispatch/client";
import { Phase, type Subscription, type SubscriptionStatus, SubscriptionStatusSchema } from "@dispatch/proto";
import { createReconciler, markFalse, markTrue } from "@dispatch/server-kit";
import { AckPolicy, type ConsumerConfig, DeliverPolicy } from "@nats-io/jetstream";
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
  const runners = new Map<string, Runner>();
  const counters = new Map<string, DeliveryCounters>();
  const written = new Map<string, SubscriptionStatus>();

  const stopRunner = async (key: string) => {
    const runner = runners.get(key);
    runners.delete(key);
    await runner?.stop();
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
      const consumer = consumerName(name, subject);
      const policy = deliveryPolicy(object);
      await store.ensureBroker(org, broker);
      // The runner of the old spec stops first, and its acks reach the server: a new consumer
      // then starts exactly after what the old one finished (nothing lost, nothing twice).
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
      if (!counters.has(key)) {
        counters.set(key, {
          delivered: Number(object.status?.delivered ?? 0n),
          failed: Number(object.status?.failed ?? 0n),
        });
      }
      runners.set(
        key,
        startRunner({
          target,
          store,
          deliver: options.deliver,
          counters: counters.get(key) as DeliveryCounters,
          log: options.log,
        }),
      );
      const status = await figures(key, readyStatus(base));
      return status;
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

  /** The status with the subscription's figures as JetStream and the runner see them now. */
  async function figures(key: string, status: SubscriptionStatus): Promise<SubscriptionStatus> {
    const runner = runners.get(key);
    const count = counters.get(key);
    if (!runner || !count) return status;
    const { org, subscription, consumer } = runner.target;
    const info = await store.jsm.consumers.info(streamName(org, broker), consumer);
    status.pending = BigInt(info.num_pending + info.num_ack_pending);
    status.delivered = BigInt(count.delivered);
    status.failed = BigInt(count.failed);
    status.deadLettered = BigInt(await store.deadLetterCount(org, subscription));
    status.observed = timestampNow();
    return status;
  }

  /** The consumer exists with this config; one for an older filter hands over its position and goes. */
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
    const uid = object.meta?.uid ?? "";
    const description = `Dispatch subscription ${org}/${name} (uid ${uid})`;
    const wanted = { ack_wait: ackWaitMs * 1_000_000, max_ack_pending: concurrency };
    // The common case (a resync, a restart): the consumer is there as it should be. One lookup.
    const found = await jsm.consumers.info(stream, consumer).catch(() => undefined);
    if (
      found?.config.description === description &&
      found.config.max_ack_pending === wanted.max_ack_pending &&
      found.config.ack_wait === wanted.ack_wait
    ) {
      return;
    }
    // Consumers of this subscription for an older filter, and of an earlier one of the same name.
    const others: { name: string; same: boolean }[] = [];
    let exists = false;
    for await (const info of jsm.consumers.list(stream)) {
      if (!isConsumerOf(info.name, name)) continue;
      const same = info.config.description === description;
      if (info.name === consumer && same) exists = true;
      else others.push({ name: info.name, same });
    }
    const config: Partial<ConsumerConfig> = {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      filter_subject: subject,
      max_deliver: -1,
      ...wanted,
      description,
    };
    const current = exists ? await jsm.consumers.info(stream, consumer) : undefined;
    const stale =
      current !== undefined &&
      (current.config.max_ack_pending !== concurrency || current.config.ack_wait !== config.ack_wait);
    if (!current || stale) {
      let start: Partial<ConsumerConfig> = startOf(object);
      // The filter (or what a consumer cannot change in place: nats-server 2.9 refuses any update
      // of a consumer with a start time) changed: a new consumer goes on from where the old one
      // had acknowledged everything.
      const handover = current ? [current.name] : others.filter((o) => o.same).map((o) => o.name);
      for (const old of handover) {
        const info = old === current?.name ? current : await jsm.consumers.info(stream, old);
        // Nothing acknowledged yet: where it started is still right.
        if (info.ack_floor.stream_seq > 0) {
          start = {
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: info.ack_floor.stream_seq + 1,
          };
        }
      }
      // A consumer of the same name (this one, stale, or a deleted subscription's) goes first.
      if (current || others.some((o) => o.name === consumer)) await jsm.consumers.delete(stream, consumer);
      await jsm.consumers.add(stream, { ...config, ...start });
    }
    for (const old of others) if (old.name !== consumer) await jsm.consumers.delete(stream, old.name);
  }

  async function deleteConsumers(org: string, name: string) {
    const stream = streamName(org, broker);
    try {
      for await (const info of store.jsm.consumers.list(stream)) {
        if (isConsumerOf(info.name, name)) await store.jsm.consumers.delete(stream, info.name);
      }
    } catch (err) {
      // No stream: no consumer either.
      if (!String(err).includes("stream not found")) throw err;
    }
  }

  /**
   * Consumers whose subscription is gone (deleted while the broker was not
   * running, so no delete reached it): removed once the first full list of
   * subscriptions is known.
   */
  async function sweep() {
    const known = () =>
      new Set(cache.list().map((sub) => `${sub.meta?.org}/${sub.meta?.name} (uid ${sub.meta?.uid})`));
    for await (const stream of store.jsm.streams.names()) {
      if (!stream.startsWith("EVENTS_")) continue;
      for await (const info of store.jsm.consumers.list(stream)) {
        const owner = /^Dispatch subscription (.+)$/.exec(info.config.description ?? "")?.[1];
        if (!info.name.startsWith("sub-") || owner === undefined || known().has(owner)) continue;
        await store.jsm.consumers.delete(stream, info.name);
        options.log(`removed the consumer ${info.name} of ${owner}, which no longer exists`);
      }
    }
  }
  void reconciler.synced.then(
    () => sweep().catch((err) => options.log("stale consumers could not be looked for", err)),
    () => {},
  );

  // The figures: read every few seconds, written when they moved.
  const interval = setInterval(() => {
    for (const key of runners.keys()) {
      void refresh(key);
    }
  }, options.statsIntervalMs ?? 5000);
  interval.unref();
  const refreshing = new Set<string>();
  async function refresh(key: string) {
    if (refreshing.has(key)) return;
    const object = reconciler.get(key);
    const last = written.get(key);
    if (!object || !last || last.phase !== Phase.READY) return;
    refreshing.add(key);
    try {
      const next = await figures(key, create(SubscriptionStatusSchema, { ...last }));
      if (
        next.pending !== last.pending ||
        next.delivered !== last.delivered ||
        next.failed !== last.failed ||
        next.deadLettered !== last.deadLettered
      ) {
        await reconciler.report(key, () => next);
      }
    } catch (err) {
      if (!signal.aborted) options.log(`the figures of subscription ${key} could not be read`, err);
    } finally {
      refreshing.delete(key);
    }
  }

  return {
    synced: reconciler.synced,
    running: () => new Map([...runners].map(([key, runner]) => [key, runner.target])),
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
