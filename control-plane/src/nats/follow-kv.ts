import { setTimeout as sleep } from "node:timers/promises";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { errors } from "@nats-io/nats-core";

/** A KV watch that lasts across NATS outages (see {@link followKv}). */
export interface KvFollower extends AsyncIterable<KvWatchEntry> {
  /** Ends the iteration. */
  stop(): void;
}

/**
 * Watches a whole KV bucket (the last value of each key, then every change)
 * like `kv.watch()`, but after each reconnect the watch starts again right
 * after the last revision seen: the server may have lost the watch's consumer
 * during the outage, and nats.js would notice only after two missed
 * heartbeats, a minute later. The first watch is made before this resolves.
 *
 * @param onReconnect subscribes to reconnects (`NatsHealth.onReconnect`); without it, a plain watch.
 */
export async function followKv(
  kv: KV,
  onReconnect?: (listener: () => void) => () => void,
): Promise<KvFollower> {
  let watcher = await kv.watch();
  let last = 0;
  let stopped = false;
  let restart = false;
  const stopFollowingReconnects = onReconnect?.(() => {
    restart = true;
    watcher.stop();
  });
  async function* entries(): AsyncGenerator<KvWatchEntry> {
    try {
      for (;;) {
        for await (const entry of watcher) {
          last = Math.max(last, entry.revision);
          yield entry;
        }
        if (stopped || !restart) return;
        restart = false;
        const next = await rewatch(kv, last, () => stopped);
        if (!next) return;
        watcher = next;
      }
    } finally {
      stopFollowingReconnects?.();
    }
  }
  return {
    [Symbol.asyncIterator]: entries,
    stop() {
      stopped = true;
      watcher.stop();
    },
  };
}

/** A watch of the changes after `last`, tried until it can be made; undefined once stopped. */
async function rewatch(kv: KV, last: number, stopped: () => boolean) {
  for (let attempt = 0; ; attempt++) {
    if (stopped()) return undefined;
    try {
      return await kv.watch(last > 0 ? { resumeFromRevision: last + 1 } : {});
    } catch (err) {
      if (err instanceof errors.ClosedConnectionError) throw err;
      await sleep(Math.min(5000, 100 * 2 ** attempt));
    }
  }
}
