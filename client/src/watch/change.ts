/**
 * One change a watch cache hands its subscribers. The shape is the one the
 * reconcile kit takes (`ReconcileEvent` in server-kit), so `cache.events()`
 * can feed a reconciler as it is.
 *
 * - `upsert`: the object exists with this content (listed, created or changed).
 * - `delete`: the object is gone; `object` is the last version the cache held.
 * - `synced`: every change up to `revision` is in the changes before it. The
 *   first one ends the initial state; a later one follows each reconnect.
 */
export type WatchChange<T> =
  | { type: "upsert"; key: string; object: T; revision: bigint }
  | { type: "delete"; key: string; object: T; revision: bigint }
  | { type: "synced"; revision: bigint };
