import type { WatchChange } from "./change.js";

/** One subscriber's queue of changes (see {@link createChangeFeed}). */
export interface ChangeFeed<T> {
  /** Adds changes; those of a key already waiting replace the waiting one. */
  push(change: WatchChange<T>): void;
  /** No more changes: the batches end (or throw `error`) once the waiting ones are taken. */
  end(error?: unknown): void;
  /** The waiting changes as batches, one batch per pull. */
  readonly batches: AsyncIterableIterator<WatchChange<T>[]>;
}

/**
 * A subscriber's queue that coalesces: while the subscriber is busy with a
 * batch, the changes that arrive wait, and a later change of a key replaces
 * the waiting one, so the next batch holds each key once, at its latest
 * state, and at most one `synced` (last, with the newest revision). A waiting
 * subscriber is woken once per turn of the event loop, so a burst of changes
 * read from the network together arrives as one batch.
 *
 * @param onClose called once when the subscriber stops pulling (returns) or the feed ends.
 */
export function createChangeFeed<T>(onClose: () => void): ChangeFeed<T> {
  const pending = new Map<string, WatchChange<T>>();
  let synced: WatchChange<T> | undefined;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let waiter: (() => void) | undefined;
  let wakeScheduled = false;
  let closed = false;

  const close = () => {
    if (closed) return;
    closed = true;
    onClose();
  };
  const wake = () => {
    if (!waiter || wakeScheduled) return;
    wakeScheduled = true;
    setImmediate(() => {
      wakeScheduled = false;
      const resolve = waiter;
      waiter = undefined;
      resolve?.();
    });
  };
  const take = (): WatchChange<T>[] => {
    const batch = [...pending.values()];
    if (synced) batch.push(synced);
    pending.clear();
    synced = undefined;
    return batch;
  };

  const batches: AsyncIterableIterator<WatchChange<T>[]> = {
    async next() {
      for (;;) {
        if (pending.size > 0 || synced) return { done: false, value: take() };
        if (ended || closed) {
          close();
          if (failure) {
            const { error } = failure;
            failure = undefined;
            throw error;
          }
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => {
          waiter = resolve;
        });
      }
    },
    async return() {
      pending.clear();
      synced = undefined;
      ended = true;
      close();
      const resolve = waiter;
      waiter = undefined;
      resolve?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return batches;
    },
  };

  return {
    push(change) {
      if (ended) return;
      if (change.type === "synced") {
        synced = change;
      } else {
        // Re-inserted at the end: the batch keeps the order of each key's latest change.
        pending.delete(change.key);
        pending.set(change.key, change);
      }
      wake();
    },
    end(error) {
      if (ended) return;
      ended = true;
      if (error !== undefined) failure = { error };
      if (waiter) {
        const resolve = waiter;
        waiter = undefined;
        resolve();
      }
    },
    batches,
  };
}
