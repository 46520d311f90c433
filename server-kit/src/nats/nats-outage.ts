import { errors as natsErrors } from "@nats-io/transport-node";

/**
 * A NATS request failed because the server did not answer or the connection
 * is down: a retry may succeed, so servers answer it as Unavailable.
 */
export function isNatsOutage(err: unknown): boolean {
  return (
    err instanceof natsErrors.TimeoutError ||
    err instanceof natsErrors.ConnectionError ||
    err instanceof natsErrors.ClosedConnectionError ||
    err instanceof natsErrors.NoRespondersError ||
    (err instanceof natsErrors.RequestError && err.isNoResponders())
  );
}
