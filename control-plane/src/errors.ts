import { Code, ConnectError } from "@connectrpc/connect";
import {
  ConfigurationError,
  type ErrorMapping,
  isNatsOutage,
  NatsUnavailableError,
} from "@dispatch/server-kit";
import {
  AlreadyExistsError,
  NotFoundError,
  RevisionConflictError,
  RevisionUnavailableError,
} from "./store/errors.js";

/** Where internal failures are reported (the message a client sees stays generic). */
export type ErrorLogger = (message: string, error: unknown) => void;

// Defined in server-kit (the NATS connection and health throw them); the
// control plane's code and users know them from here.
export { ConfigurationError, NatsUnavailableError };

/**
 * How the control plane's errors reach clients (through the one error
 * interceptor, `createErrorInterceptor` of server-kit): store errors keep their
 * plain-language message with the matching code, a NATS outage is
 * Unavailable, anything unexpected is Internal, logged, its detail never sent.
 */
export function controlPlaneErrors(log: ErrorLogger): ErrorMapping {
  return {
    codes: [
      [NotFoundError, Code.NotFound],
      [AlreadyExistsError, Code.AlreadyExists],
      [RevisionConflictError, Code.Aborted],
      // etcd's answer to a compacted or future revision; a watch cache reads everything again.
      [RevisionUnavailableError, Code.OutOfRange],
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
