import type { Subscription } from "@dispatch/proto";
import { AckPolicy, type ConsumerConfig, type ConsumerInfo, DeliverPolicy } from "@nats-io/jetstream";
import { timeText } from "../events/cloud-event.js";
import { filterProblems } from "../filters/filters.js";
import type { EventStore } from "../store/event-store.js";
import { consumerName, defaultBroker, filterSubject, isConsumerOf, streamName } from "../store/layout.js";
import { deliveryPolicy } from "./policy.js";

/**
 * Subscriptions' durable consumers (decision 8): one per subscription, named
 * by its filter subject and settings, made where the ones of its earlier specs
 * had acknowledged everything, removed with it, and swept when left behind.
 */

/** Every subscription reads the default broker (the only one so far). */
export const subscriptionBroker = defaultBroker;

/** JetStream redelivers an event whose delivery stopped without word (a crash) after this long. */
const ackWaitMs = 30_000;

/** The consumer a subscription's spec wants: its filter subject and name. Undefined for a spec that cannot run. */
export function wantedConsumer(
  subscription: Subscription,
): { subject: string; consumer: string } | undefined {
  const filters = subscription.spec?.filters ?? [];
  if (!subscription.spec || filterProblems(filters).length > 0) return undefined;
  const subject = filterSubject(subscription.meta?.org ?? "", subscriptionBroker, filters);
  const settings = consumerSettings(deliveryPolicy(subscription).concurrency);
  return { subject, consumer: consumerName(subscription.meta?.name ?? "", subject, settings) };
}

export interface SubscriptionConsumers {
  /**
   * The subscription's consumer exists as its spec wants it. A new one goes on
   * where the ones of its earlier specs had acknowledged everything (the
   * highest ack floor), and is made before they are removed, so a failure
   * between the two loses no position; a consumer of a deleted subscription of
   * the same name goes.
   */
  ensure(subscription: Subscription, wanted: { subject: string; consumer: string }): Promise<void>;
  /** Removes every consumer of a (deleted) subscription. */
  remove(org: string, name: string): Promise<void>;
  /**
   * Removes consumers whose subscription is gone (deleted while the broker was
   * not running) or that an earlier spec left once the current one exists.
   */
  sweep(subscriptions: () => readonly Subscription[]): Promise<void>;
}

export function createSubscriptionConsumers(
  store: EventStore,
  log: (message: string) => void,
): SubscriptionConsumers {
  /** Every consumer of a subscription in a stream (listed whole before anything is deleted). */
  const consumersOf = async (stream: string, name: string): Promise<ConsumerInfo[]> => {
    const found: ConsumerInfo[] = [];
    for await (const info of store.jsm.consumers.list(stream))
      if (isConsumerOf(info.name, name)) found.push(info);
    return found;
  };
  return {
    async ensure(subscription, { subject, consumer }) {
      const org = subscription.meta?.org ?? "";
      const stream = streamName(org, subscriptionBroker);
      const jsm = store.jsm;
      const description = describe(subscription);
      // The common case (a restart, a resync): there as it should be. One lookup.
      const found = await jsm.consumers.info(stream, consumer).catch(() => undefined);
      if (found?.config.description === description) return;
      const mine: ConsumerInfo[] = [];
      const strangers: string[] = [];
      for (const info of await consumersOf(stream, subscription.meta?.name ?? "")) {
        if (info.config.description === description) mine.push(info);
        else strangers.push(info.name);
      }
      // A deleted subscription's consumer holds no position of ours: it goes first.
      for (const stranger of strangers) await jsm.consumers.delete(stream, stranger);
      let start = startOf(subscription);
      const floor = Math.max(0, ...mine.map((info) => info.ack_floor.stream_seq));
      // Nothing acknowledged yet: where it started is still right.
      if (floor > 0) start = { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: floor + 1 };
      await jsm.consumers.add(stream, {
        durable_name: consumer,
        ack_policy: AckPolicy.Explicit,
        filter_subject: subject,
        max_deliver: -1,
        ...consumerSettings(deliveryPolicy(subscription).concurrency),
        description,
        ...start,
      });
      for (const old of mine) await jsm.consumers.delete(stream, old.name);
    },
    async remove(org, name) {
      const stream = streamName(org, subscriptionBroker);
      let consumers: ConsumerInfo[];
      try {
        consumers = await consumersOf(stream, name);
      } catch (err) {
        // No stream: no consumer either.
        if (String(err).includes("stream not found")) return;
        throw err;
      }
      for (const info of consumers) await store.jsm.consumers.delete(stream, info.name);
    },
    async sweep(subscriptions) {
      const wanted = () => {
        const names = new Map<string, string>();
        for (const sub of subscriptions()) {
          const consumer = wantedConsumer(sub)?.consumer;
          if (consumer) names.set(describe(sub), consumer);
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
          log(
            `removed the consumer ${info.name} (${owner}): ${keep === undefined ? "its subscription no longer exists" : "left from an earlier spec"}`,
          );
        }
      }
    },
  };
}

/** How a consumer names its subscription (org, name and uid: a re-created one is another). */
function describe(subscription: Subscription): string {
  const meta = subscription.meta;
  return `Dispatch subscription ${meta?.org ?? ""}/${meta?.name ?? ""} (uid ${meta?.uid ?? ""})`;
}

/** What a consumer is made with besides its filter: part of its name, so a change makes a new one. */
function consumerSettings(concurrency: number): { ack_wait: number; max_ack_pending: number } {
  return { ack_wait: ackWaitMs * 1_000_000, max_ack_pending: concurrency };
}

/** Where a new subscription starts reading (JetStream takes start times to the nanosecond). */
function startOf(subscription: Subscription): Partial<ConsumerConfig> {
  const position = subscription.spec?.startFrom?.position;
  switch (position?.case) {
    case "all":
      return { deliver_policy: DeliverPolicy.All };
    case "time":
      return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: timeText(position.value) };
    default: {
      // "From now" is from when the subscription was created, not from when its consumer was:
      // an event sent right after create is delivered.
      const created = subscription.meta?.created;
      return created
        ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: timeText(created) }
        : { deliver_policy: DeliverPolicy.New };
    }
  }
}
