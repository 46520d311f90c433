/**
 * A mistake in how the CLI was called: unknown kind, bad flag value, malformed
 * file. `main` prints it and exits with status 2.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * A failure the user should read as plain words (exit status 1). `lines` holds
 * extra detail printed one per line under the message, e.g. validation violations.
 */
export class CommandError extends Error {
  override name = "CommandError";
  readonly lines: readonly string[];

  constructor(message: string, options: { lines?: readonly string[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.lines = options.lines ?? [];
  }
}
