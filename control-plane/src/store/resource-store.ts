import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { AlreadyExistsError, NotFoundError, RevisionConflictError } from "./errors.js";
import { decodeRecord, encodeRecord, RecordOp } from "./record.js";
import { readSubjects, type SubjectEvent } from "./subject-reader.js";

/** Turns objects into stored bytes and back. The key is bound into sealed payloads. */
export interface ObjectCodec<T> {
  encode(object: T, key: string): Uint8Array;
  decode(payload: Uint8Array, key: string): T;
}

/** An object as stored, with the KV revision it was read at. */
export interface Versioned<T> {
  key: string;
  object: T;
  revision: number;
}

/** A change seen by {@link ResourceStore.watch}. */
export type StoreEvent<T> =
  | { type: "added" | "modified"; key: string; object: T; revision: number }
  | { type: "deleted"; key: string; revision: number }
  | { type: "synced"; revision: number };

/**
 * ResourceStore keeps the objects of one kind in one NATS KV bucket. The KV
 * revision is the optimistic-concurrency token: create fails when the key
 * holds a live object, update and delete fail when the caller's revision is stale.
 */
export class ResourceStore<T> {
  constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    readonly bucket: string,
    private readonly codec: ObjectCodec<T>,
  ) {}

  /** Returns the live object under key, or undefined. */
  async get(key: string): Promise<Versioned<T> | undefined> {
    const entry = await this.kv.get(key);
    if (entry?.operation !== "PUT" || entry.value.length === 0) return undefined;
    return {
      key,
      object: this.codec.decode(decodeRecord(entry.value).payload, key),
      revision: entry.revision,
    };
  }

  /** Like {@link get}, but a missing object is a {@link NotFoundError} with this message. */
  async mustGet(key: string, notFound: string): Promise<Versioned<T>> {
    const found = await this.get(key);
    if (!found) throw new NotFoundError(notFound);
    return found;
  }

  /** Stores a new object; fails with {@link AlreadyExistsError} if the key is live. */
  async create(key: string, object: T, what: string): Promise<number> {
    try {
      return await this.kv.create(key, encodeRecord(RecordOp.Create, this.codec.encode(object, key)));
    } catch (err) {
      if (isWrongLastSequence(err)) throw new AlreadyExistsError(`${what} already exists`, { cause: err });
      throw err;
    }
  }

  /** Replaces the object if it is still at `revision`. */
  async update(key: string, object: T, revision: number, what: string): Promise<number> {
    try {
      return await this.kv.update(
        key,
        encodeRecord(RecordOp.Update, this.codec.encode(object, key)),
        revision,
      );
    } catch (err) {
      if (isWrongLastSequence(err)) {
        const current = await this.get(key);
        if (!current) throw new NotFoundError(`${what} not found`, { cause: err });
        throw new RevisionConflictError(
          `${what} was changed by someone else: you sent revision ${revision}, the current one is ${current.revision}; read it again and retry`,
          current.revision,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** Deletes the object if it is still at `revision`. */
  async delete(key: string, revision: number, what: string): Promise<void> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
    } catch (err) {
      if (isWrongLastSequence(err)) {
        const current = await this.get(key);
        if (!current) throw new NotFoundError(`${what} not found`, { cause: err });
        throw new RevisionConflictError(
          `${what} was changed by someone else: you sent revision ${revision}, the current one is ${current.revision}`,
          current.revision,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** The newest revision of the bucket: that of its last write, whatever the key. */
  async lastRevision(): Promise<number> {
    return (await this.kv.status()).streamInfo.state.last_seq;
  }

  /** Every live object whose key matches `filter`, and the revision the list reflects. */
  async list(filter: string): Promise<{ items: Versioned<T>[]; revision: number }> {
    // Keyed, newest revision wins: an ordered consumer that resets may deliver
    // a message twice, and a list must still hold each object once.
    const byKey = new Map<string, Versioned<T>>();
    const latest = new Map<string, number>();
    let revision = 0;
    for await (const event of this.read(filter, { follow: false })) {
      if (event.type === "synced") {
        revision = event.revision;
        continue;
      }
      const { key, data } = event.message;
      if ((latest.get(key) ?? 0) >= event.message.revision) continue;
      latest.set(key, event.message.revision);
      if (data && data.length > 0) {
        const object = this.codec.decode(decodeRecord(data).payload, key);
        byKey.set(key, { key, object, revision: event.message.revision });
      } else {
        byKey.delete(key);
      }
    }
    const items = [...byKey.values()];
    items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { items, revision };
  }

  private read(
    filter: string,
    options: { follow: boolean; resumeAfter?: number; signal?: AbortSignal },
  ): AsyncGenerator<SubjectEvent> {
    return readSubjects(this.js, `KV_${this.bucket}`, `$KV.${this.bucket}.`, filter, options);
  }

  /**
   * The objects matching `filter` (or the changes after `resumeAfter`), a
   * `synced` marker, then every change until `signal` aborts.
   */
  async *watch(
    filter: string,
    options: { resumeAfter?: number; signal?: AbortSignal },
  ): AsyncGenerator<StoreEvent<T>> {
    // In a fresh watch the initial state is the last version of each key; a
    // tombstone there is an object the caller never saw, so it is skipped.
    // After the snapshot (or when resuming) a tombstone is a deletion.
    let live = options.resumeAfter !== undefined && options.resumeAfter > 0;
    for await (const event of this.read(filter, { follow: true, ...options })) {
      if (event.type === "synced") {
        live = true;
        yield event;
        continue;
      }
      const { key, revision, data } = event.message;
      if (!data || data.length === 0) {
        if (live) yield { type: "deleted", key, revision };
        continue;
      }
      const record = decodeRecord(data);
      const object = this.codec.decode(record.payload, key);
      // Everything in the initial state is new to the caller.
      const type = !live || record.op === RecordOp.Create ? "added" : "modified";
      yield { type, key, object, revision };
    }
  }
}

function isWrongLastSequence(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JetStreamApiCodes.StreamWrongLastSequence;
  return err instanceof Error && /wrong last sequence/i.test(err.message);
}
