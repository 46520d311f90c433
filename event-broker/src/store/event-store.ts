import { create } from "@bufbuild/protobuf";
import { type Timestamp, TimestampSchema, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type CloudEvent,
  type DeadLetter,
  DeadLetterSchema,
  type EmitResult,
  EmitResultSchema,
  type StoredEvent,
  StoredEventSchema,
} from "@dispatch/proto";
import {
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { decodeHeaderValueStrict, encodeHeaderValue } from "../events/header-values.js";
import { eventFromMessage, eventToMessage } from "./event-message.js";
import {
  brokerSubjects,
  deadLetterStreamName,
  deadLetterSubject,
  dedupId,
  eventSubject,
  streamName,
} from "./layout.js";

/** How long each broker keeps events, and how much. */
export interface Retention {
  /** Events older than this are dropped; default 7 days. */
  maxAgeMs: number;
  /** A broker's stream holds at most this many bytes (the oldest go first); default 1 GiB. */
  maxBytes: number;
}

export const defaultRetention: Retention = { maxAgeMs: 7 * 24 * 3600_000, maxBytes: 1024 ** 3 };

/** The JetStream dedup window: a re-sent event (same source and id) within it is stored once. */
export const duplicateWindowMs = 2 * 60_000;

/** Options of {@link createEventStore}. */
export interface EventStoreOptions {
  nats: NatsConnection;
  retention?: Partial<Retention>;
  /** The largest stored message (an event's data and attributes). */
  maxEventBytes: number;
}

/** Why a dead letter was written. */
export interface Failure {
  subscription: string;
  attempts: number;
  error: string;
  eventSequence: number;
}

/** Events in JetStream: brokers' streams and the dead letters (layout: `layout.ts`, decision 0008). */
export interface EventStore {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** Makes (or brings up to date) the stream of an org's broker. */
  ensureBroker(org: string, broker: string): Promise<void>;
  /** Stores events; resolves once JetStream has stored (or already had) every one. */
  publish(org: string, broker: string, events: readonly CloudEvent[]): Promise<EmitResult[]>;
  /** The newest `limit` events (of `type`, when given), oldest first. */
  list(org: string, broker: string, options: { type?: string; limit: number }): Promise<StoredEvent[]>;
  /** The newest `last` events, then each new one, until `signal` aborts. */
  follow(
    org: string,
    broker: string,
    options: { type?: string; last: number },
    signal: AbortSignal,
  ): AsyncIterable<StoredEvent>;
  /** Stores an event a subscription gave up on. */
  deadLetter(org: string, event: CloudEvent, failure: Failure): Promise<void>;
  /** A subscription's dead letters, oldest first. */
  deadLetters(org: string, subscription: string, limit: number): Promise<DeadLetter[]>;
  /** How many dead letters each subscription of an org has (those with none are absent). */
  deadLetterCounts(org: string): Promise<Map<string, number>>;
  removeDeadLetter(org: string, sequence: bigint): Promise<void>;
  /** Removes every dead letter of a subscription (it was deleted). */
  purgeDeadLetters(org: string, subscription: string): Promise<void>;
  /** Resolves once everything sent so far (acks too) has reached the server. */
  flush(): Promise<void>;
  /** Deletes every stream of an org (its brokers' events, its dead letters): the org is gone. */
  dropOrg(org: string): Promise<string[]>;
}

/** A Timestamp, to the nanosecond, from nanoseconds since the epoch (as JetStream keeps them). */
function timestampOfNanos(nanos: bigint): Timestamp {
  return create(TimestampSchema, { seconds: nanos / 1_000_000_000n, nanos: Number(nanos % 1_000_000_000n) });
}

/** Events at most this far back are looked at for a `list` by type. */
const listWindow = 10_000;

export function createEventStore(options: EventStoreOptions): EventStore {
  const js = jetstream(options.nats);
  let jsm: JetStreamManager | undefined;
  const manager = async () => {
    jsm ??= await jetstreamManager(options.nats);
    return jsm;
  };
  const retention = { ...defaultRetention, ...options.retention };
  const ensured = new Map<string, Promise<void>>();
  const ensure = (name: string, config: Partial<StreamConfig> & { name: string }) => {
    let pending = ensured.get(name);
    if (!pending) {
      pending = (async () => {
        const m = await manager();
        try {
          await m.streams.info(name);
        } catch {
          await m.streams.add(config);
          return;
        }
        await m.streams.update(name, config);
      })();
      ensured.set(name, pending);
      pending.catch(() => ensured.delete(name));
    }
    return pending;
  };
  const nanos = (ms: number) => ms * 1_000_000;
  const ensureBroker = (org: string, broker: string) =>
    ensure(streamName(org, broker), {
      name: streamName(org, broker),
      subjects: [brokerSubjects(org, broker)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(retention.maxAgeMs),
      max_bytes: retention.maxBytes,
      // The data, the attributes as headers, and room for the NATS protocol.
      max_msg_size: options.maxEventBytes + 32 * 1024,
      duplicate_window: nanos(duplicateWindowMs),
      allow_direct: true,
    });
  const ensureDeadLetters = (org: string) =>
    ensure(deadLetterStreamName(org), {
      name: deadLetterStreamName(org),
      subjects: [`dl.${org}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(retention.maxAgeMs),
      max_bytes: retention.maxBytes,
      max_msg_size: options.maxEventBytes + 64 * 1024,
      duplicate_window: nanos(duplicateWindowMs),
    });

  /**
   * Publishes go out together at the end of the event loop's turn: requests
   * that arrive on many connections at once become one write to NATS (and
   * one read for nats-server), not one each.
   */
  let pending: (() => void)[] = [];
  const batched = <T>(publish: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (pending.length === 0) {
        setImmediate(() => {
          const now = pending;
          pending = [];
          for (const send of now) send();
        });
      }
      pending.push(() => publish().then(resolve, reject));
    });

  /**
   * Messages of `subject` in `stream` from a start, until none is pending (at
   * most `max`), through an ephemeral ordered consumer removed at the end.
   * Each fetch ends by itself (messages deleted meanwhile never hang it).
   */
  async function* read(
    stream: string,
    subject: string,
    start: { seq: number } | undefined,
    max: number,
  ): AsyncGenerator<JsMsg> {
    const consumer = await js.consumers.get(stream, {
      filter_subjects: subject,
      ...(start ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.seq } : {}),
    });
    try {
      let left = Math.min((await consumer.info(true)).num_pending, max);
      while (left > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(left, 256), expires: 2_000 });
        let got = 0;
        let pending = 1;
        for await (const m of batch) {
          got += 1;
          left -= 1;
          pending = m.info.pending;
          yield m;
        }
        if (got === 0 || pending === 0) return;
      }
    } finally {
      await consumer.delete().catch(() => {});
    }
  }
  /** The newest `limit` events up to sequence `last` (of `type`, when given), oldest first. */
  async function newest(
    org: string,
    broker: string,
    type: string | undefined,
    limit: number,
    first: number,
    last: number,
  ) {
    const stream = streamName(org, broker);
    if (last < first || limit === 0) return [];
    const from = Math.max(first, last - (type === undefined ? limit : listWindow) + 1);
    const subject = type === undefined ? brokerSubjects(org, broker) : eventSubject(org, broker, type);
    const ring: StoredEvent[] = [];
    for await (const m of read(stream, subject, { seq: from }, listWindow)) {
      if (m.info.streamSequence > last) break;
      ring.push(stored(m));
      if (ring.length > limit) ring.shift();
    }
    return ring;
  }
  const stored = (m: JsMsg): StoredEvent =>
    create(StoredEventSchema, {
      event: eventFromMessage(m.headers, m.data),
      sequence: BigInt(m.info.streamSequence),
      // Exact: the message's own BigInt (a Number of nanoseconds since 1970 loses the last few hundred).
      stored: timestampOfNanos(m.timestampNanos),
    });

  return {
    js,
    get jsm() {
      if (!jsm) throw new Error("the event store has not reached JetStream yet");
      return jsm;
    },
    ensureBroker,
    async publish(org, broker, events) {
      await ensureBroker(org, broker);
      return Promise.all(
        events.map(async (event) => {
          const { headers, data } = eventToMessage(event);
          const ack = await batched(() =>
            js.publish(eventSubject(org, broker, event.type), data, {
              headers,
              msgID: dedupId(event.source, event.id),
            }),
          );
          return create(EmitResultSchema, {
            id: event.id,
            source: event.source,
            duplicate: ack.duplicate,
            sequence: BigInt(ack.seq),
          });
        }),
      );
    },
    async list(org, broker, { type, limit }) {
      await ensureBroker(org, broker);
      const { state } = await (await manager()).streams.info(streamName(org, broker));
      if (state.messages === 0) return [];
      return newest(org, broker, type, limit, state.first_seq, state.last_seq);
    },
    async *follow(org, broker, { type, last }, signal) {
      await ensureBroker(org, broker);
      const stream = streamName(org, broker);
      const { state } = await (await manager()).streams.info(stream);
      // The newest first, then from right after them: nothing between the two is missed.
      if (last > 0 && state.messages > 0) {
        for (const event of await newest(org, broker, type, last, state.first_seq, state.last_seq))
          yield event;
      }
      const consumer = await js.consumers.get(stream, {
        filter_subjects: type === undefined ? brokerSubjects(org, broker) : eventSubject(org, broker, type),
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: state.last_seq + 1,
      });
      const messages = await consumer.consume();
      const stop = () => void messages.close();
      signal.addEventListener("abort", stop, { once: true });
      // The caller may have left while the consumer was being made.
      if (signal.aborted) stop();
      try {
        for await (const m of messages) yield stored(m);
      } finally {
        signal.removeEventListener("abort", stop);
        await messages.close();
        await consumer.delete().catch(() => {});
      }
    },
    async deadLetter(org, event, failure) {
      await ensureDeadLetters(org);
      const { headers, data } = eventToMessage(event);
      headers.set("dispatch-subscription", failure.subscription);
      headers.set("dispatch-attempts", String(failure.attempts));
      headers.set("dispatch-error", encodeHeaderValue(failure.error.slice(0, 4096)));
      headers.set("dispatch-failed", new Date().toISOString());
      headers.set("dispatch-event-sequence", String(failure.eventSequence));
      await js.publish(deadLetterSubject(org, failure.subscription), data, {
        headers,
        // Written again after a crash before the ack: stored once.
        msgID: `dl-${failure.subscription}-${failure.eventSequence}-${failure.attempts}`,
      });
    },
    async deadLetters(org, subscription, limit) {
      await ensureDeadLetters(org);
      const items: DeadLetter[] = [];
      for await (const m of read(
        deadLetterStreamName(org),
        deadLetterSubject(org, subscription),
        undefined,
        limit,
      )) {
        const h = m.headers;
        items.push(
          create(DeadLetterSchema, {
            event: stored(m),
            subscription,
            attempts: Number(h?.get("dispatch-attempts") || 0),
            lastError: decodeHeaderValueStrict(h?.get("dispatch-error") ?? "") ?? "",
            failed: timestampFromMs(Date.parse(h?.get("dispatch-failed") ?? "") || 0),
            eventSequence: BigInt(h?.get("dispatch-event-sequence") || 0),
          }),
        );
      }
      return items;
    },
    async deadLetterCounts(org) {
      await ensureDeadLetters(org);
      const prefix = `dl.${org}.`;
      const info = await (await manager()).streams.info(deadLetterStreamName(org), {
        subjects_filter: `${prefix}>`,
      });
      const counts = new Map<string, number>();
      for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
        counts.set(subject.slice(prefix.length), count);
      }
      return counts;
    },
    flush: () => options.nats.flush(),
    async dropOrg(org) {
      const m = await manager();
      // Listed whole before anything is deleted (the list pages by offset).
      const dropped: string[] = [];
      for await (const name of m.streams.names()) {
        if (name === deadLetterStreamName(org) || name.startsWith(`${streamName(org, "")}`))
          dropped.push(name);
      }
      for (const name of dropped) {
        await m.streams.delete(name);
        ensured.delete(name);
      }
      return dropped;
    },
    async purgeDeadLetters(org, subscription) {
      const m = await manager();
      try {
        await m.streams.purge(deadLetterStreamName(org), { filter: deadLetterSubject(org, subscription) });
      } catch (err) {
        // No dead letters stream: nothing to purge.
        if (!String(err).includes("stream not found")) throw err;
      }
    },
    async removeDeadLetter(org, sequence) {
      await (await manager()).streams.deleteMessage(deadLetterStreamName(org), Number(sequence), false);
    },
  };
}
