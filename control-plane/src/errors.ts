import { Code, ConnectError } from "@connectrpc/connect";
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
  log("internal error", err);
  return new ConnectError(
    "internal error (the control plane log has the details)",
    Code.Internal,
    undefined,
    undefined,
    err,
  );
}

/**
 * The control plane cannot start as configured (wrong key, NATS without
 * JetStream, ...). The message says what to change; callers show it as is.
 */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}
