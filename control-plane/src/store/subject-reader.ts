import { setTimeout as sleep } from "node:timers/promises";
import { sharedHealth } from "@dispatch/server-kit";
import { DeliverPolicy, type JetStreamClient, type JsMsg, type PushConsumer } from "@nats-io/jetstream";
import { errors, type MsgHdrs } from "@nats-io/nats-core";
import { RevisionUnavailableError } from "./errors.js";

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
 * syntax): first the initial state — the last message of every subject (read
 * point by point), every message since a time, or every change after
 * `resumeAfter` — then a `synced` marker, then, when following, each new
 * message as the server pushes it through an ordered consumer. No polling.
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
  const initialState = options.initial ?? "last-per-subject";
  const resume = options.resumeAfter !== undefined && options.resumeAfter > 0;
  if (!resume && initialState === "last-per-subject") {
    yield* readLastPerSubject(js, stream, prefix, filter, options);
    return;
  }
  const deliver = resume
    ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: (options.resumeAfter ?? 0) + 1 }
    : initialState === "none" || initialState === "last-per-subject"
      ? { deliver_policy: DeliverPolicy.New }
      : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: initialState.since.toISOString() };
  yield* follow(js, stream, prefix, filter, deliver, options, new Map());
}

/**
 * The current state as exact point reads, then changes from a consumer that
 * starts right after it. A LastPerSubject consumer is not used for the state:
 * with writes going on during the scan, nats-server 2.9 delivers some keys
 * twice and skips others. Here each subject's last message is read directly,
 * and the consumer starts at the sequence read before the subjects were
 * listed; a change the point reads already returned is skipped by revision.
 *
 * The `synced` revision is that sequence too, not the newest revision the
 * point reads happened to return: a key written during the scan may be read
 * at a revision above a change of another key that the consumer has yet to
 * deliver, and a client that resumed after that newer revision would never
 * get the older change. Every change after the `synced` revision is either in
 * the state already or follows it; one in both comes again on a resume from
 * that revision, at a revision the client holds for its key already.
 */
async function* readLastPerSubject(
  js: JetStreamClient,
  stream: string,
  prefix: string,
  filter: string,
  options: ReadSubjectsOptions,
): AsyncGenerator<SubjectEvent> {
  const jsm = await js.jetstreamManager(false);
  const info = await jsm.streams.info(stream, { subjects_filter: `${prefix}${filter}` });
  const start = info.state.last_seq;
  const subjects = Object.keys(info.state.subjects ?? {});
  const latest = new Map<string, number>();
  const found: StoredMessage[] = [];
  // Point reads, a bounded number in flight.
  for (let i = 0; i < subjects.length; i += 64) {
    const batch = await Promise.all(
      subjects
        .slice(i, i + 64)
        .map((subject) => jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null)),
    );
    for (const stored of batch) {
      if (!stored) continue;
      const message = storedToMessage(
        stored.subject,
        stored.seq,
        stored.data,
        stored.header,
        stored.time,
        prefix,
      );
      latest.set(message.key, message.revision);
      found.push(message);
    }
  }
  found.sort((a, b) => a.revision - b.revision);
  for (const message of found) yield { type: "message", message };
  yield { type: "synced", revision: start };
  if (!options.follow) return;
  yield* follow(
    js,
    stream,
    prefix,
    filter,
    { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start + 1 },
    options,
    latest,
    true,
  );
}

/**
 * Messages from an ordered push consumer: when `synced` is false, first the
 * backlog and a `synced` marker once nothing is pending, then every new
 * message. Messages at or below a revision in `latest` are skipped.
 */
async function* follow(
  js: JetStreamClient,
  stream: string,
  prefix: string,
  filter: string,
  deliver: Record<string, unknown>,
  options: ReadSubjectsOptions,
  latest: Map<string, number>,
  alreadySynced = false,
): AsyncGenerator<SubjectEvent> {
  // The stream's last sequence before the consumer starts: anything stored
  // later is delivered, never lost.
  let synced = alreadySynced ? 0 : (await (await js.streams.get(stream)).info()).state.last_seq;
  const resumeAfter = options.resumeAfter ?? 0;
  if (!alreadySynced && resumeAfter > synced) {
    throw new RevisionUnavailableError(
      `revision ${resumeAfter} is ahead of the store, whose last is ${synced}: the store was reset or restored, or the revision is from another installation; watch without a resume revision to read the current state`,
    );
  }
  // A single string, not a list: nats-server 2.9 has no multi-filter consumers.
  const filterSubjects = `${prefix}${filter}`;
  let consumer = await js.consumers.getPushConsumer(stream, { filter_subjects: filterSubjects, ...deliver });
  const initial = alreadySynced ? 0 : (await consumer.info(true)).num_pending;
  if (!alreadySynced && initial === 0) {
    yield { type: "synced", revision: synced };
    if (!options.follow) {
      await consumer.delete().catch(() => undefined);
      return;
    }
  }

  let messages = await consumer.consume();
  const stop = () => messages.stop();
  options.signal?.addEventListener("abort", stop, { once: true });
  // After a reconnect the server may have lost this consumer (a cluster node
  // that restarted, an outage past the consumer's inactivity threshold), and
  // nats.js would notice only after two missed heartbeats, a minute later. So
  // each reconnect starts a new consumer right after the last message seen.
  let lastSeq = 0;
  let restart = false;
  const stopFollowingReconnects = sharedHealth(js)?.onReconnect(() => {
    restart = true;
    messages.stop();
  });
  try {
    if (options.signal?.aborted) return;
    // Caught up when the server says nothing more is pending for this consumer.
    let caughtUp = alreadySynced || initial === 0;
    for (;;) {
      for await (const msg of messages) {
        lastSeq = msg.seq;
        const message = toMessage(msg, prefix);
        const seen = latest.get(message.key);
        if (seen !== undefined && message.revision <= seen) continue;
        latest.set(message.key, message.revision);
        yield { type: "message", message };
        if (!caughtUp) {
          synced = Math.max(synced, message.revision);
          if (msg.info.pending === 0) {
            caughtUp = true;
            yield { type: "synced", revision: synced };
            if (!options.follow) return;
          }
        }
      }
      if (!restart || options.signal?.aborted) return;
      restart = false;
      consumer.delete().catch(() => undefined);
      const resume =
        lastSeq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 } : deliver;
      const next = await newConsumer(
        js,
        stream,
        { filter_subjects: filterSubjects, ...resume },
        options.signal,
      );
      if (!next) return;
      consumer = next;
      messages = await consumer.consume();
    }
  } finally {
    stopFollowingReconnects?.();
    options.signal?.removeEventListener("abort", stop);
    messages.stop();
    // Remove the ephemeral consumer now rather than after its inactivity timeout.
    consumer.delete().catch(() => undefined);
  }
}

/**
 * An ordered push consumer, tried until it can be made (JetStream may still be
 * starting right after a reconnect); undefined once `signal` aborts.
 */
async function newConsumer(
  js: JetStreamClient,
  stream: string,
  config: Record<string, unknown>,
  signal: AbortSignal | undefined,
): Promise<PushConsumer | undefined> {
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) return undefined;
    try {
      return await js.consumers.getPushConsumer(stream, config);
    } catch (err) {
      if (err instanceof errors.ClosedConnectionError) throw err;
      await sleep(Math.min(5000, 100 * 2 ** attempt), undefined, signal ? { signal } : {}).catch(
        () => undefined,
      );
    }
  }
}

function toMessage(msg: JsMsg, prefix: string): StoredMessage {
  return storedToMessage(
    msg.subject,
    msg.seq,
    msg.data,
    msg.headers,
    new Date(Math.floor(msg.info.timestampNanos / 1e6)),
    prefix,
  );
}

function storedToMessage(
  subject: string,
  seq: number,
  data: Uint8Array,
  headers: MsgHdrs | undefined,
  time: Date,
  prefix: string,
): StoredMessage {
  const key = subject.substring(prefix.length);
  const operation = headers?.get("KV-Operation");
  if (operation === "DEL" || operation === "PURGE") return { key, revision: seq, time };
  return { key, revision: seq, data, time };
}
