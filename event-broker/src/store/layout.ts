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

/** Every org has this broker; no other can be made yet. */
export const defaultBroker = "default";

/** The longest event `type` the broker stores, in characters. */
export const maxTypeLength = 512;

/**
 * The most bytes a type may take as subject tokens (escaped): with the
 * prefix, a stream or consumer name and the rest of a NATS protocol line it
 * stays well inside nats-server's 4,096-byte control line, past which the
 * server drops the connection.
 */
export const maxTypeSubjectBytes = 1024;

/** What is wrong with a type (or a type filter's value) as a subject; undefined when nothing. */
export function typeSubjectProblem(type: string): string | undefined {
  if (type.length > maxTypeLength) return `is ${type.length} characters long; the limit is ${maxTypeLength}`;
  const bytes = type.split(".").map(escapeToken).join(".").length;
  return bytes > maxTypeSubjectBytes
    ? `takes ${bytes} bytes as subject tokens (each byte of a character other than a letter, digit or '-' takes three); the limit is ${maxTypeSubjectBytes}`
    : undefined;
}

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

/**
 * The consumer of a subscription reading `subject` with `settings` (what it
 * is made with besides its filter): a new filter subject, or new settings, is
 * a new consumer (a consumer with a start time cannot be changed in place).
 */
export function consumerName(subscription: string, subject: string, settings: object = {}): string {
  const hash = createHash("sha256").update(subject);
  if (Object.keys(settings).length > 0) hash.update("\0").update(JSON.stringify(settings));
  return `sub-${subscription}-${hash.digest("hex").slice(0, 12)}`;
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
