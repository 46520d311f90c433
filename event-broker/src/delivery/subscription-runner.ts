import { setMaxListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import { type CloudEvent, CloudEventSchema } from "@dispatch/proto";
import type { JsMsg } from "@nats-io/jetstream";
import { attributesOf, eventProblems, normalizeEvent } from "../events/cloud-event.js";
import type { EventMatcher } from "../filters/filters.js";
import { eventFromMessage, UnreadableEventError } from "../store/event-message.js";
import type { EventStore } from "../store/event-store.js";
import { streamName } from "../store/layout.js";
import type { Deliver } from "./deliver.js";
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
  /** A reply event to publish (routed like any event); rejects when it could not be stored. */
  publishReply(org: string, broker: string, reply: CloudEvent): Promise<void>;
  log(message: string, error?: unknown): void;
}

export interface Runner {
  readonly target: RunnerTarget;
  /** Stops taking events; resolves when the ones in flight have ended (and were acked or not). */
  stop(): Promise<void>;
}

/** The extension that counts how many replies led to an event (the loop guard). */
export const hopsExtension = "dispatchhops";
/** A reply to an event that is itself the reply of this many replies is not published. */
export const maxHops = 16;

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
  const stopping = new AbortController();
  // Every delivery in flight listens to it.
  setMaxListeners(0, stopping.signal);
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
    let outcome: Awaited<ReturnType<Deliver>>;
    try {
      outcome = await options.deliver({
        org: target.org,
        subscription: target.subscription,
        function: target.function,
        event,
        timeoutMs: target.policy.timeoutMs,
        signal: stopping.signal,
      });
      if (outcome.ok && outcome.reply) {
        const reply = replyToPublish(event, outcome.reply);
        if (typeof reply === "string") options.log(`${where()}: ${reply}`);
        else {
          try {
            await options.publishReply(target.org, target.broker, reply);
          } catch (err) {
            // The delivery is whole only with its reply stored: try it all again.
            outcome = {
              ok: false,
              retriable: true,
              error: `its reply event could not be stored: ${String(err)}`,
            };
          }
        }
      }
    } finally {
      clearInterval(working);
    }
    if (stopping.signal.aborted && !outcome.ok) {
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
        const messages = await consumer.consume({ max_messages: target.policy.concurrency });
        const onStop = () => void messages.close();
        stopping.signal.addEventListener("abort", onStop, { once: true });
        try {
          for await (const m of messages) {
            failures = 0;
            if (target.policy.ordered) {
              await handle(m);
              continue;
            }
            const run = handle(m)
              .catch((err) => options.log(`${where()}: a delivery failed`, err))
              .finally(() => {
                inFlight.delete(run);
                wake?.();
              });
            inFlight.add(run);
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
    async stop() {
      stopping.abort();
      wake?.();
      await running;
      await Promise.allSettled([...inFlight]);
    },
  };
}

/**
 * The reply to publish for a delivered event, or why none is: the loop guard
 * counts replies in the `dispatchhops` extension and stops at {@link maxHops}.
 */
function replyToPublish(parent: CloudEvent, reply: CloudEvent): CloudEvent | string {
  const hops = Number(parent.extensions[hopsExtension] ?? "0");
  const next = (Number.isSafeInteger(hops) && hops > 0 ? hops : 0) + 1;
  if (next > maxHops) {
    return `the reply to event ${parent.id} is not published: it would be the ${next}th reply in a chain (the limit is ${maxHops}; is a function replying to its own events?)`;
  }
  const event = normalizeEvent(
    create(CloudEventSchema, {
      ...reply,
      specversion: reply.specversion || "1.0",
      extensions: { ...reply.extensions, [hopsExtension]: String(next) },
    }),
  );
  const problems = eventProblems(event);
  return problems.length > 0
    ? `the reply to event ${parent.id} is not a valid event: ${problems.join("; ")}`
    : event;
}
