/**
 * A change to one object, as a reconciler consumes it. Both the control
 * plane's store watch and a client-side watch cache can feed these.
 *
 * - `upsert`: the object exists with this content (created, changed, or listed
 *   at the start of a watch).
 * - `delete`: the object is gone.
 * - `synced`: every object that existed when the watch (re)started has been
 *   sent. The first one ends the initial list; a later one means the watch was
 *   restarted, and the reconciler then reconciles every key once more.
 *
 * A source that relists (its resume revision was gone) must itself send a
 * `delete` for each key the new list no longer holds: a watch cache knows
 * them, the reconciler does not guess.
 *
 * `revision` is the store revision of the change (`meta.revision` over the
 * API); within one source it only grows, so a repeated or older change of a
 * key is recognised and ignored.
 */
export type ReconcileEvent<T> =
  | { type: "upsert"; key: string; object: T; revision: bigint }
  | { type: "delete"; key: string; revision: bigint }
  | { type: "synced"; revision: bigint };
