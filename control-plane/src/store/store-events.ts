import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelay, defaultBackoff, type ReconcileEvent } from "@dispatch/server-kit";
import { errors } from "@nats-io/nats-core";
import type { ErrorLogger } from "../errors.js";
import { RevisionUnavailableError } from "./errors.js";
import type { ResourceStore } from "./resource-store.js";

/** Options for {@link storeEvents}. */
export interface StoreEventsOptions {
  /** Ends the events. */
  signal: AbortSignal;
  log: ErrorLogger;
}

/**
 * The objects of a store matching `filter` as a reconciler takes them in:
 * each object, `synced`, then every change. The store's watch already
 * follows NATS reconnects; should it fail or end all the same, it is
 * started again right after the last revision seen (with backoff while it
 * keeps failing), and its `synced` tells the reconciler to look at every key
 * again. Ends when `signal` aborts, or when the NATS connection is closed.
 */
export async function* storeEvents<T>(
  store: ResourceStore<T>,
  filter: string,
  options: StoreEventsOptions,
): AsyncGenerator<ReconcileEvent<T>> {
  const { signal } = options;
  let last = 0;
  for (let failures = 0; !signal.aborted; ) {
    try {
      // The state a fresh watch starts with may hold revisions above its
      // synced revision (read while writes went on) with older changes still
      // to come, so only `synced` and what follows it move the resume point.
      // (A resumed watch sends changes in order: each one moves it.)
      let ordered = last > 0;
      for await (const event of store.watch(filter, { signal, ...(last > 0 ? { resumeAfter: last } : {}) })) {
        failures = 0;
        if (event.type === "synced") ordered = true;
        if (ordered) last = Math.max(last, event.revision);
        const revision = BigInt(event.revision);
        if (event.type === "synced") yield { type: "synced", revision };
        else if (event.type === "deleted") yield { type: "delete", key: event.key, revision };
        else yield { type: "upsert", key: event.key, object: event.object, revision };
      }
      if (signal.aborted) return;
      options.log(`the watch of ${store.bucket} ended; watching again`, undefined);
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof errors.ClosedConnectionError) throw err;
      // The store is behind the revision seen (NATS lost its data): start over.
      if (err instanceof RevisionUnavailableError) last = 0;
      options.log(`the watch of ${store.bucket} failed; watching again`, err);
    }
    failures++;
    await sleep(backoffDelay(failures, defaultBackoff, Math.random), undefined, { signal }).catch(
      () => undefined,
    );
  }
}
