import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { decodeRecord, type RecordOp } from "./record.js";

/** One stored change of a key in a KV bucket. */
export interface BucketChange {
  /** The key inside the bucket (without the `$KV.<bucket>.` prefix). */
  key: string;
  /** The stream sequence of this change: the object's revision. */
  revision: number;
  /** A put carries a record; a delete or purge carries none. */
  record?: { op: RecordOp; payload: Uint8Array };
}

/** What {@link readBucket} yields: changes, and one `synced` after the initial state. */
export type BucketEvent = { type: "change"; change: BucketChange } | { type: "synced"; revision: number };

/** Options for {@link readBucket}. */
export interface ReadBucketOptions {
  /** Keep reading changes after the initial state (a watch) instead of stopping (a list). */
  follow: boolean;
  /** Instead of the current state, start with the first change after this revision. */
  resumeAfter?: number;
  signal?: AbortSignal;
}

/**
 * Reads a KV bucket through an ordered push consumer on its stream: first the
 * last value of every matching key (or every change after `resumeAfter`), then a
 * `synced` marker, then — when following — each change as it is stored. No
 * polling: the server pushes, and the ordered consumer recovers from gaps.
 *
 * `filter` is a key filter in NATS subject syntax (`default.*`, `>`).
 */
export async function* readBucket(
  js: JetStreamClient,
  bucket: string,
  filter: string,
  options: ReadBucketOptions,
): AsyncGenerator<BucketEvent> {
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  // Read the stream's last sequence before the consumer starts: anything stored
  // later is either part of the snapshot or delivered after it, never lost.
  const streamInfo = await (await js.streams.get(stream)).info();
  let synced = streamInfo.state.last_seq;

  const resume = options.resumeAfter !== undefined && options.resumeAfter > 0;
  const consumer = await js.consumers.getPushConsumer(stream, {
    // A single string, not a list: nats-server 2.9 has no multi-filter consumers.
    filter_subjects: `${prefix}${filter}`,
    deliver_policy: resume ? DeliverPolicy.StartSequence : DeliverPolicy.LastPerSubject,
    ...(resume ? { opt_start_seq: (options.resumeAfter ?? 0) + 1 } : {}),
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
      const change = toChange(msg, prefix);
      yield { type: "change", change };
      if (seen < initial) {
        seen++;
        synced = Math.max(synced, change.revision);
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

function toChange(msg: JsMsg, prefix: string): BucketChange {
  const key = msg.subject.substring(prefix.length);
  const operation = msg.headers?.get("KV-Operation");
  if (operation === "DEL" || operation === "PURGE" || msg.data.length === 0) {
    return { key, revision: msg.seq };
  }
  return { key, revision: msg.seq, record: decodeRecord(msg.data) };
}
