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
