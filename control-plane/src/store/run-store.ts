import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Run, RunSchema } from "@dispatch/proto";
import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { encodeRun, type RunBudget, runBudget } from "../functions/run-size.js";
import { ensureStream } from "./streams.js";
import { readSubjects } from "./subject-reader.js";

/** Retention of run records. */
export interface RunRetention {
  /** Records older than this are dropped; default 7 days. */
  maxAgeMs: number;
  /** At most this many runs are kept per function (the oldest go first); default 1000. */
  maxPerFunction: number;
}

export const defaultRunRetention: RunRetention = { maxAgeMs: 7 * 24 * 3600 * 1000, maxPerFunction: 1000 };

const stream = "RUNS";
const trimEvery = 50;
const prefix = "runs.";

/** A run change seen by {@link RunStore.watch}. */
export type RunEvent = { type: "run"; run: Run; revision: number } | { type: "synced"; revision: number };

/**
 * RunStore keeps run records in the JetStream stream RUNS, one subject per
 * run (`runs.<org>.<function>.<id>`), so the last message of a subject is the
 * run's current record. Age and per-function limits bound the stream. A
 * record is one message, so it always fits the server's max_payload: what does
 * not fit is cut, saying so in the record (see {@link encodeRun}).
 */
export class RunStore {
  private readonly writes = new Map<string, number>();

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly retention: RunRetention,
    private readonly maxPayload: () => number,
  ) {}

  /** What a run record can hold, from the connected server's max_payload. */
  budget(): RunBudget {
    return runBudget(this.maxPayload());
  }

  /** Opens (creating or updating) the RUNS stream. */
  static async open(
    js: JetStreamClient,
    jsm: JetStreamManager,
    retention: RunRetention,
    replicas = 1,
    maxPayload: () => number = () => 1024 * 1024,
  ): Promise<RunStore> {
    const config = {
      name: stream,
      subjects: [`${prefix}>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: retention.maxAgeMs * 1e6,
      // A run's subject holds only its current record (async runs write twice).
      max_msgs_per_subject: 1,
      num_replicas: replicas,
    };
    await ensureStream(jsm, config);
    return new RunStore(js, jsm, retention, maxPayload);
  }

  /**
   * Stores the run's current record; trims the function's oldest runs now and
   * then. A run too large for one message is cut to fit first (the run object
   * changes to what was stored).
   */
  async put(run: Run): Promise<number> {
    const org = run.meta?.org ?? "";
    const fn = run.spec?.function ?? "";
    const data = encodeRun(run, this.budget().record);
    const ack = await this.js.publish(subject(org, fn, run.meta?.name ?? ""), data);
    const key = `${org}.${fn}`;
    const count = (this.writes.get(key) ?? 0) + 1;
    this.writes.set(key, count);
    // One message per run (max_msgs_per_subject 1), so keeping `limit`
    // messages keeps the newest `limit` runs. Trimming every 50 writes keeps
    // the cost off most calls; a function holds at most limit + 49 runs.
    if (count % trimEvery === 0) {
      await this.jsm.streams
        .purge(stream, { filter: `${prefix}${key}.>`, keep: this.retention.maxPerFunction })
        .catch(() => undefined);
    }
    return ack.seq;
  }

  /** The run's current record, or undefined. */
  async get(org: string, fn: string, id: string): Promise<Run | undefined> {
    try {
      const msg = await this.jsm.streams.getMessage(stream, { last_by_subj: subject(org, fn, id) });
      return msg ? fromBinary(RunSchema, msg.data) : undefined;
    } catch (err) {
      if (/no message found|not found/i.test((err as Error).message)) return undefined;
      throw err;
    }
  }

  /** The runs of one function (or of every function in the org), oldest first. */
  async list(org: string, fn: string | undefined): Promise<{ runs: Run[]; revision: number }> {
    // Keyed by run id: a message delivered twice (ordered consumer reset) is one run.
    const byId = new Map<string, Run>();
    let revision = 0;
    for await (const event of readSubjects(this.js, stream, prefix, `${org}.${fn || "*"}.*`, {
      follow: false,
    })) {
      if (event.type === "synced") revision = event.revision;
      else if (event.message.data) byId.set(event.message.key, fromBinary(RunSchema, event.message.data));
    }
    const runs = [...byId.values()];
    runs.sort((a, b) => startedMs(a) - startedMs(b));
    return { runs, revision };
  }

  /** Run records as they are written (after the current ones, unless resuming). */
  async *watch(
    org: string,
    fn: string | undefined,
    options: { resumeAfter?: number; signal?: AbortSignal },
  ): AsyncGenerator<RunEvent> {
    for await (const event of readSubjects(this.js, stream, prefix, `${org}.${fn || "*"}.*`, {
      follow: true,
      ...options,
    })) {
      if (event.type === "synced") yield event;
      else if (event.message.data) {
        yield {
          type: "run",
          run: fromBinary(RunSchema, event.message.data),
          revision: event.message.revision,
        };
      }
    }
  }

  /**
   * Replaces a run's record with `change(run)` unless it was written again
   * meanwhile (compare-and-set on the stream sequence). False when there is
   * no record, `change` returns undefined, or someone else wrote first.
   */
  async rewrite(
    org: string,
    fn: string,
    id: string,
    change: (run: Run) => Run | undefined,
  ): Promise<boolean> {
    let stored: { seq: number; data: Uint8Array } | null;
    try {
      stored = await this.jsm.streams.getMessage(stream, { last_by_subj: subject(org, fn, id) });
    } catch (err) {
      if (/no message found|not found/i.test((err as Error).message)) return false;
      throw err;
    }
    const next = stored ? change(fromBinary(RunSchema, stored.data)) : undefined;
    if (!stored || !next) return false;
    try {
      await this.js.publish(subject(org, fn, id), encodeRun(next, this.budget().record), {
        expect: { lastSubjectSequence: stored.seq },
      });
      return true;
    } catch (err) {
      if (/wrong last sequence/i.test((err as Error).message)) return false;
      throw err;
    }
  }

  /** Removes every run of a function (when the function is deleted). */
  async deleteFunction(org: string, fn: string): Promise<void> {
    await this.jsm.streams.purge(stream, { filter: `${prefix}${org}.${fn}.>` });
    this.writes.delete(`${org}.${fn}`);
  }
}

function subject(org: string, fn: string, id: string): string {
  return `${prefix}${org}.${fn}.${id}`;
}

function startedMs(run: Run): number {
  const t = run.status?.started;
  return t ? timestampMs(t) : 0;
}
