import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";

/** One stored message on a subject: a KV key's version, a run record, a log line. */
export interface StoredMessage {
  /** The subject without the reader's prefix (for KV: the key). */
  key: string;
  /** The stream sequence: the object's revision. */
  revision: number;
  /** The payload; undefined for a KV delete or purge marker. */
  data?: Uint8Array;
  /** When the server stored it. */
  time: Date;
}

/** What {@link readSubjects} yields: messages, and one `synced` after the initial state. */
export type SubjectEvent = { type: "message"; message: StoredMessage } | { type: "synced"; revision: number };

/** Options for {@link readSubjects}. */
export interface ReadSubjectsOptions {
  /** Keep reading new messages after the initial state (a watch) instead of stopping (a list). */
  follow: boolean;
  /** Instead of the current state, start with the first message after this revision. */
  resumeAfter?: number;
  /**
   * The initial state: the last message of each subject (default), every
   * message stored since a time, or nothing (only new messages).
   */
  initial?: "last-per-subject" | { since: Date } | "none";
  signal?: AbortSignal;
}

/**
 * Reads a stream's subjects under `prefix` that match `filter` (NATS subject
 * syntax) through an ordered push consumer: first the last message of every
 * subject (or every message after `resumeAfter`), then a `synced` marker, then
 * — when following — each new message as it is stored. No polling: the server
 * pushes, and the ordered consumer recovers from gaps by itself.
 *
 * KV buckets are streams too (`KV_<bucket>`, prefix `$KV.<bucket>.`).
 */
export async function* readSubjects(
  js: JetStreamClient,
  stream: string,
  prefix: string,
  filter: string,
  options: ReadSubjectsOptions,
): AsyncGenerator<SubjectEvent> {
  // Read the stream's last sequence before the consumer starts: anything stored
  // later is either part of the snapshot or delivered after it, never lost.
  const streamInfo = await (await js.streams.get(stream)).info();
  let synced = streamInfo.state.last_seq;

  const resume = options.resumeAfter !== undefined && options.resumeAfter > 0;
  const initialState = options.initial ?? "last-per-subject";
  const deliver = resume
    ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: (options.resumeAfter ?? 0) + 1 }
    : initialState === "none"
      ? { deliver_policy: DeliverPolicy.New }
      : initialState === "last-per-subject"
        ? { deliver_policy: DeliverPolicy.LastPerSubject }
        : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: initialState.since.toISOString() };
  const consumer = await js.consumers.getPushConsumer(stream, {
    // A single string, not a list: nats-server 2.9 has no multi-filter consumers.
    filter_subjects: `${prefix}${filter}`,
    ...deliver,
  });
  const initial = (await consumer.info(true)).num_pending;
  if (initial === 0) {
    yield { type: "synced", revision: synced };
    if (!options.follow) {
      await consumer.delete().catch(() => undefined);
      return;
    }
  }

  const messages = await consumer.consume();
  const stop = () => messages.stop();
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    if (options.signal?.aborted) return;
    let seen = 0;
    for await (const msg of messages) {
      const message = toMessage(msg, prefix);
      yield { type: "message", message };
      if (seen < initial) {
        seen++;
        synced = Math.max(synced, message.revision);
        if (seen === initial) {
          yield { type: "synced", revision: synced };
          if (!options.follow) return;
        }
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", stop);
    messages.stop();
    // Remove the ephemeral consumer now rather than after its inactivity timeout.
    consumer.delete().catch(() => undefined);
  }
}

function toMessage(msg: JsMsg, prefix: string): StoredMessage {
  const key = msg.subject.substring(prefix.length);
  const time = new Date(Math.floor(msg.info.timestampNanos / 1e6));
  const operation = msg.headers?.get("KV-Operation");
  if (operation === "DEL" || operation === "PURGE") return { key, revision: msg.seq, time };
  return { key, revision: msg.seq, data: msg.data, time };
}
