import { setMaxListeners } from "node:events";
import type { CloudEvent } from "@dispatch/proto";
import type { JsMsg } from "@nats-io/jetstream";
import { attributesOf } from "../events/cloud-event.js";
import type { EventMatcher } from "../filters/filters.js";
import { eventFromMessage, UnreadableEventError } from "../store/event-message.js";
import type { EventStore } from "../store/event-store.js";
import { streamName } from "../store/layout.js";
import type { Deliver, Outcome } from "./deliver.js";
import { type DeliveryPolicy, retryDelayMs } from "./policy.js";

/** What a runner delivers: one subscription as it is now. */
export interface RunnerTarget {
  org: string;
  broker: string;
  subscription: string;
  function: string;
  consumer: string;
  matches: EventMatcher;
  policy: DeliveryPolicy;
}

/** Counts a runner keeps (added to what the subscription's status held when it started). */
export interface DeliveryCounters {
  delivered: number;
  failed: number;
}

/** Options of {@link startRunner}. */
export interface RunnerOptions {
  target: RunnerTarget;
  store: EventStore;
  deliver: Deliver;
  counters: DeliveryCounters;
  /** Told when its consumer is gone (deleted from under it): the owner makes it again. */
  onConsumerMissing?(): void;
  log(message: string, error?: unknown): void;
}

export interface Runner {
  readonly target: RunnerTarget;
  /**
   * Stops taking events and lets the deliveries in flight finish (acked,
   * retried or dead-lettered as usual) for up to `graceMs` (default 10 s);
   * those still running then are cut off and handed back to JetStream.
   */
  stop(graceMs?: number): Promise<void>;
}

/** How often a delivery in progress tells JetStream it is still working on the event. */
const workingIntervalMs = 10_000;

/**
 * Delivers a subscription's events: reads its durable consumer, checks each
 * event against the filters JetStream could not apply, and hands it to the
 * function; `policy.concurrency` at a time (one, in order, when ordered).
 * An event is acked only once it is delivered, dead-lettered or dropped: a
 * crash at any point leaves it to be delivered again (at least once).
 */
export function startRunner(options: RunnerOptions): Runner {
  const { target, store } = options;
  // Stops the reading of new events.
  const stopping = new AbortController();
  // Cuts off the deliveries in flight (after the grace period of a stop).
  const cutting = new AbortController();
  // Every delivery in flight listens to it.
  setMaxListeners(0, cutting.signal);
  const inFlight = new Set<Promise<void>>();
  let wake: (() => void) | undefined;

  const handle = async (m: JsMsg): Promise<void> => {
    let event: CloudEvent;
    try {
      event = eventFromMessage(m.headers, m.data);
    } catch (err) {
      // Not written by the broker: nothing to deliver, ever.
      options.log(`${where()}: message ${m.info.streamSequence} holds no readable event; it is skipped`, err);
      m.term();
      if (!(err instanceof UnreadableEventError)) throw err;
      return;
    }
    if (!target.matches(attributesOf(event))) {
      m.ack();
      return;
    }
    const attempt = m.info.deliveryCount;
    const working = setInterval(() => m.working(), workingIntervalMs);
    let outcome: Outcome;
    try {
      // Replies are published inside (withReplies): a delivery counts only with its reply stored.
      outcome = await options.deliver({
        org: target.org,
        subscription: target.subscription,
        function: target.function,
        event,
        timeoutMs: target.policy.timeoutMs,
        signal: cutting.signal,
      });
    } finally {
      clearInterval(working);
    }
    if (cutting.signal.aborted && !outcome.ok) {
      // Cut short by the stop, not failed: the next runner delivers it again at once.
      m.nak();
      return;
    }
    if (outcome.ok) {
      options.counters.delivered += 1;
      m.ack();
      return;
    }
    options.counters.failed += 1;
    if (outcome.retriable && attempt <= target.policy.retries) {
      m.nak(retryDelayMs(target.policy.backoff, attempt));
      return;
    }
    if (target.policy.deadLetter === "store") {
      try {
        await store.deadLetter(target.org, event, {
          subscription: target.subscription,
          attempts: attempt,
          error: outcome.error,
          eventSequence: m.info.streamSequence,
        });
      } catch (err) {
        // Not stored: it stays in the stream and comes back.
        options.log(`${where()}: a dead letter could not be stored; the event is tried again`, err);
        m.nak(retryDelayMs(target.policy.backoff, attempt));
        return;
      }
    } else {
      options.log(`${where()}: event ${event.id} dropped after ${attempt} attempts: ${outcome.error}`);
    }
    m.ack();
  };

  const where = () => `subscription "${target.subscription}" in org "${target.org}"`;

  const loop = async () => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        const consumer = await store.js.consumers.get(streamName(target.org, target.broker), target.consumer);
        // A consumer deleted from under it ends the iteration (instead of retrying inside for ever).
        const messages = await consumer.consume({
          max_messages: target.policy.concurrency,
          abort_on_missing_resource: true,
        });
        const onStop = () => void messages.close();
        stopping.signal.addEventListener("abort", onStop, { once: true });
        try {
          for await (const m of messages) {
            // Pulled before the stop, yielded after it (closing lets the buffer drain first):
            // given back at once for the next runner rather than delivered by this one.
            if (stopping.signal.aborted) {
              m.nak();
              continue;
            }
            failures = 0;
            const run = handle(m)
              .catch((err) => options.log(`${where()}: a delivery failed`, err))
              .finally(() => {
                inFlight.delete(run);
                wake?.();
              });
            inFlight.add(run);
            // Ordered: one at a time (the consumer hands out one anyway).
            if (target.policy.ordered) await run;
            while (inFlight.size >= target.policy.concurrency && !stopping.signal.aborted) {
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
            }
          }
        } finally {
          stopping.signal.removeEventListener("abort", onStop);
        }
      } catch (err) {
        if (stopping.signal.aborted) break;
        failures += 1;
        if (/consumer (not found|deleted)|stream not found/i.test(String(err))) {
          options.log(`${where()}: its consumer is gone; it is made again`);
          options.onConsumerMissing?.();
          return;
        }
        options.log(`${where()}: reading its events failed; trying again`, err);
      }
      if (!stopping.signal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** failures, 5000)).unref?.());
      }
    }
  };
  const running = loop();

  return {
    target,
    async stop(graceMs = 10_000) {
      stopping.abort();
      wake?.();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([Promise.allSettled([running, ...inFlight]), grace]);
      clearTimeout(timer);
      cutting.abort();
      await Promise.allSettled([running, ...inFlight]);
    },
  };
}
