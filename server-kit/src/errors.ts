/**
 * A server cannot start as configured (wrong key, NATS without JetStream, a
 * NATS URL that does not parse, ...). The message says what to change; callers
 * show it as is.
 */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

/**
 * A server has lost its connection to NATS and is reconnecting: calls that
 * need NATS are answered Unavailable with this message.
 */
export class NatsUnavailableError extends Error {
  override readonly name = "NatsUnavailableError";
  /**
   * @param since when the connection was lost
   * @param who the server, as the message names it ("the control plane")
   */
  constructor(
    readonly since: Date,
    who = "the server",
  ) {
    super(`${who} lost its connection to NATS at ${since.toISOString()}; it is reconnecting`);
  }
}
