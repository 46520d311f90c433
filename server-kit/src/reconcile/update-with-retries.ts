/** Options for {@link updateWithRetries}. */
export interface UpdateWithRetriesOptions<T, R> {
  /** The object as stored now, with the revision it was read at; undefined when it is gone. */
  read(): Promise<{ object: T; revision: R } | undefined>;
  /** The object to store instead of `current`, or undefined when there is nothing to change. */
  next(current: T): T | undefined;
  /** Stores `object` if the stored one is still at `revision` (compare-and-set). */
  write(object: T, revision: R): Promise<void>;
  /** Whether `write` failed because someone else wrote first (a lost race, retried). */
  isConflict(err: unknown): boolean;
  /** Reads and writes tried before giving up; default 5. */
  attempts?: number;
}

/** What {@link updateWithRetries} did. */
export type UpdateOutcome = "written" | "unchanged" | "missing";

/** Every attempt of {@link updateWithRetries} lost its race: someone else keeps writing the object. */
export class UpdateConflictError extends Error {
  override readonly name = "UpdateConflictError";
}

/**
 * A write with optimistic concurrency, as every status write is: read the
 * object, derive the next version from what is stored, write it at the
 * revision read, and on a lost race read again and retry. The next version is
 * derived anew from each read, so a concurrent writer's change is never lost.
 *
 * @example
 * await updateWithRetries({
 *   read: () => store.get(key),
 *   next: (fn) => withStatus(fn, observed),
 *   write: (fn, revision) => store.update(key, fn, revision),
 *   isConflict: (err) => err instanceof RevisionConflictError,
 * });
 */
export async function updateWithRetries<T, R>(
  options: UpdateWithRetriesOptions<T, R>,
): Promise<UpdateOutcome> {
  const attempts = options.attempts ?? 5;
  let lastConflict: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const current = await options.read();
    if (!current) return "missing";
    const next = options.next(current.object);
    if (next === undefined) return "unchanged";
    try {
      await options.write(next, current.revision);
      return "written";
    } catch (err) {
      if (!options.isConflict(err)) throw err;
      lastConflict = err;
    }
  }
  throw new UpdateConflictError(`the object changed under each of ${attempts} attempts to write it`, {
    cause: lastConflict,
  });
}
