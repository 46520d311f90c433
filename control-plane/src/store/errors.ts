/** The object does not exist. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

/** An object with the same key exists already. */
export class AlreadyExistsError extends Error {
  override readonly name = "AlreadyExistsError";
}

/** The object changed since the revision the caller read (optimistic concurrency). */
export class RevisionConflictError extends Error {
  override readonly name = "RevisionConflictError";
  constructor(
    message: string,
    readonly current: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A read asked to resume after a revision the store cannot resume from: it is
 * ahead of the store's last (the store was reset or restored, or the revision
 * came from elsewhere). The caller must read the current state again.
 */
export class RevisionUnavailableError extends Error {
  override readonly name = "RevisionUnavailableError";
}
