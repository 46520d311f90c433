import { Code, ConnectError } from "@connectrpc/connect";
import { ConfigurationError, NatsUnavailableError } from "@dispatch/server-kit";
import { errors as natsErrors } from "@nats-io/nats-core";
import { AlreadyExistsError, NotFoundError, RevisionConflictError } from "./store/errors.js";

/** Where internal failures are reported (the message a client sees stays generic). */
export type ErrorLogger = (message: string, error: unknown) => void;

/**
 * Maps any error to the ConnectError a client sees. Store errors keep their
 * plain-language message with the matching code; anything unexpected becomes
 * Internal with the detail kept in `cause` and logged, never sent.
 */
export function toConnectError(err: unknown, log: ErrorLogger): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof NotFoundError)
    return new ConnectError(err.message, Code.NotFound, undefined, undefined, err);
  if (err instanceof AlreadyExistsError) {
    return new ConnectError(err.message, Code.AlreadyExists, undefined, undefined, err);
  }
  if (err instanceof RevisionConflictError) {
    return new ConnectError(err.message, Code.Aborted, undefined, undefined, err);
  }
  if (err instanceof NatsUnavailableError) {
    return new ConnectError(err.message, Code.Unavailable, undefined, undefined, err);
  }
  if (isNatsOutage(err)) {
    return new ConnectError(
      `NATS did not answer (${(err as Error).message}); the control plane may be reconnecting to it: try again`,
      Code.Unavailable,
      undefined,
      undefined,
      err,
    );
  }
  log("internal error", err);
  return new ConnectError(
    "internal error (the control plane log has the details)",
    Code.Internal,
    undefined,
    undefined,
    err,
  );
}

// Defined in server-kit (the NATS connection and health throw them); the
// control plane's code and users know them from here.
export { ConfigurationError, NatsUnavailableError };

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
