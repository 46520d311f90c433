import { create } from "@bufbuild/protobuf";
import { type CloudEvent, CloudEventSchema } from "@dispatch/proto";
import { eventProblems, normalizeEvent } from "../events/cloud-event.js";
import { defaultBroker } from "../store/layout.js";
import type { Deliver } from "./deliver.js";

/** The extension that counts how many replies led to an event (the loop guard). */
export const hopsExtension = "dispatchhops";
/** A reply to an event that is itself the reply of this many replies is not published. */
export const maxHops = 16;

/**
 * Deliveries whose reply events are published: a handler that answers with
 * an event (runtimes/CONTRACT.md) has it stored in the same broker, routed
 * like any event, before the delivery counts as done; a reply that cannot be
 * stored fails the delivery (it is tried again, reply and all). Replies past
 * {@link maxHops} in a chain, and replies that are not valid events, are not
 * published (and logged).
 */
export function withReplies(
  deliver: Deliver,
  publish: (org: string, broker: string, event: CloudEvent) => Promise<void>,
  log: (message: string) => void,
  broker = defaultBroker,
): Deliver {
  return async (request) => {
    const outcome = await deliver(request);
    if (!outcome.ok || !outcome.reply) return outcome;
    const reply = replyToPublish(request.event, outcome.reply);
    if (typeof reply === "string") {
      log(`subscription "${request.subscription}" in org "${request.org}": ${reply}`);
      return outcome;
    }
    try {
      await publish(request.org, broker, reply);
      return outcome;
    } catch (err) {
      return { ok: false, retriable: true, error: `its reply event could not be stored: ${String(err)}` };
    }
  };
}

/** The reply to publish for a delivered event (with its hop count), or why none is. */
export function replyToPublish(parent: CloudEvent, reply: CloudEvent): CloudEvent | string {
  const hops = Number(parent.extensions[hopsExtension] ?? "0");
  const next = (Number.isSafeInteger(hops) && hops > 0 ? hops : 0) + 1;
  if (next > maxHops) {
    return `the reply to event ${parent.id} is not published: it would be reply number ${next} in a chain (the limit is ${maxHops}; is a function replying to its own events?)`;
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
