import { Code, ConnectError } from "@connectrpc/connect";
import { errors as natsErrors } from "@nats-io/nats-core";
import type { ErrorMapping } from "./error-interceptor.js";
import { AlreadyExistsError, NotFoundError, RevisionConflictError } from "./store/errors.js";

/** Where internal failures are reported (the message a client sees stays generic). */
export type ErrorLogger = (message: string, error: unknown) => void;

/**
 * The control plane cannot start as configured (wrong key, NATS without
 * JetStream, ...). The message says what to change; callers show it as is.
 */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

/**
 * The control plane has lost its connection to NATS and is reconnecting:
 * calls that need the store are answered Unavailable with this message.
 */
export class NatsUnavailableError extends Error {
  override readonly name = "NatsUnavailableError";
  constructor(readonly since: Date) {
    super(`the control plane lost its connection to NATS at ${since.toISOString()}; it is reconnecting`);
  }
}

/**
 * How the control plane's errors reach clients (through the one error
 * interceptor, `error-interceptor.ts`): store errors keep their
 * plain-language message with the matching code, a NATS outage is
 * Unavailable, anything unexpected is Internal, logged, its detail never sent.
 */
export function controlPlaneErrors(log: ErrorLogger): ErrorMapping {
  return {
    codes: [
      [NotFoundError, Code.NotFound],
      [AlreadyExistsError, Code.AlreadyExists],
      [RevisionConflictError, Code.Aborted],
      [NatsUnavailableError, Code.Unavailable],
    ],
    translate: (err) =>
      isNatsOutage(err)
        ? new ConnectError(
            `NATS did not answer (${(err as Error).message}); the control plane may be reconnecting to it: try again`,
            Code.Unavailable,
            undefined,
            undefined,
            err,
          )
        : undefined,
    log,
    internalMessage: "internal error (the control plane log has the details)",
  };
}

/** A NATS request failed because the server did not answer or the connection is down. */
function isNatsOutage(err: unknown): boolean {
  return (
    err instanceof natsErrors.TimeoutError ||
    err instanceof natsErrors.ConnectionError ||
    err instanceof natsErrors.ClosedConnectionError ||
    err instanceof natsErrors.NoRespondersError ||
    (err instanceof natsErrors.RequestError && err.isNoResponders())
  );
}
