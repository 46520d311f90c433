import { createHash } from "node:crypto";
import type { Filter } from "@dispatch/proto";

/**
 * Where events live in JetStream (decision 0008): one stream per org and
 * broker, `EVENTS_<org>_<broker>`, whose subjects are
 * `ev.<org>.<broker>.<type tokens>`: the event's `type` split on ".", each
 * token escaped so that any type is a valid subject. An exact type filter is
 * then one subject, and a type prefix the subject of its whole tokens with
 * `.>`, so JetStream hands a subscription's consumer only events it may
 * match. Dead letters: one stream per org, `DEADLETTERS_<org>`, subjects
 * `dl.<org>.<subscription>`. Org, broker and subscription names are DNS
 * labels (lowercase letters, digits, '-'), so `_` and `.` separate safely.
 */

/** The longest event `type` the broker stores (its subject must fit a NATS control line). */
export const maxTypeLength = 512;

export function streamName(org: string, broker: string): string {
  return `EVENTS_${org}_${broker}`;
}

/** Every subject of a broker's stream. */
export function brokerSubjects(org: string, broker: string): string {
  return `ev.${org}.${broker}.>`;
}

export function eventSubject(org: string, broker: string, type: string): string {
  return `ev.${org}.${broker}.${type.split(".").map(escapeToken).join(".")}`;
}

/**
 * A subject token for one part of a type: letters, digits and '-' stay, any
 * other byte is `_XX` (hex); an empty part is `_`. One-to-one, so an exact
 * type is exactly one subject.
 */
export function escapeToken(part: string): string {
  if (part === "") return "_";
  let out = "";
  for (const byte of Buffer.from(part, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(c) ? c : `_${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The filter subject of a subscription's consumer: the narrowest subject
 * that still holds every event its filters can match. The filters are ANDed,
 * so a top-level (or `all`) exact or prefix filter on `type` narrows it; any
 * other filter is checked by the dispatcher.
 */
export function filterSubject(org: string, broker: string, filters: readonly Filter[]): string {
  let best: { subject: string; tokens: number } | undefined;
  const consider = (subject: string, tokens: number) => {
    if (!best || tokens > best.tokens) best = { subject, tokens };
  };
  const visit = (filter: Filter) => {
    const d = filter.dialect;
    if (d.case === "exact" && d.value.attributes.type !== undefined) {
      consider(eventSubject(org, broker, d.value.attributes.type), Number.POSITIVE_INFINITY);
    } else if (d.case === "prefix" && d.value.attributes.type !== undefined) {
      // Only the whole tokens of the prefix: "com.example.or" holds "com.example.order.x".
      const whole = d.value.attributes.type.split(".").slice(0, -1);
      if (whole.length > 0) {
        consider(`ev.${org}.${broker}.${whole.map(escapeToken).join(".")}.>`, whole.length);
      }
    } else if (d.case === "all") {
      for (const inner of d.value.filters) visit(inner);
    }
  };
  for (const filter of filters) visit(filter);
  return best?.subject ?? brokerSubjects(org, broker);
}

/**
 * The dedup key of an event (`Nats-Msg-Id`): its source and id, which
 * CloudEvents makes unique per event, joined so that no two pairs collide.
 */
export function dedupId(source: string, id: string): string {
  return createHash("sha256").update(source).update("\0").update(id).digest("base64url");
}

/** The consumer of a subscription reading `subject`: a new filter subject is a new consumer. */
export function consumerName(subscription: string, subject: string): string {
  return `sub-${subscription}-${createHash("sha256").update(subject).digest("hex").slice(0, 12)}`;
}

/** Whether a consumer (by name) belongs to a subscription. */
export function isConsumerOf(consumer: string, subscription: string): boolean {
  return (
    consumer.startsWith(`sub-${subscription}-`) && consumer.length === `sub-${subscription}-`.length + 12
  );
}

export function deadLetterStreamName(org: string): string {
  return `DEADLETTERS_${org}`;
}

export function deadLetterSubject(org: string, subscription: string): string {
  return `dl.${org}.${subscription}`;
}
