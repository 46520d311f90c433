import { setTimeout as sleep } from "node:timers/promises";
import { backoffDelay, defaultBackoff, type ReconcileEvent } from "@dispatch/server-kit";
import { errors } from "@nats-io/nats-core";
import type { ErrorLogger } from "../errors.js";
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
      for await (const event of store.watch(filter, { signal, ...(last > 0 ? { resumeAfter: last } : {}) })) {
        failures = 0;
        last = Math.max(last, event.revision);
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
      options.log(`the watch of ${store.bucket} failed; watching again`, err);
    }
    failures++;
    await sleep(backoffDelay(failures, defaultBackoff, Math.random), undefined, { signal }).catch(
      () => undefined,
    );
  }
}
