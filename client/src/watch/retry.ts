import { Code, ConnectError } from "@connectrpc/connect";

/** How long to wait between attempts to watch again after failures in a row. */
export interface Backoff {
  /** The first wait; default 100 ms. */
  initialMs: number;
  /** The longest wait; default 5 s. */
  maxMs: number;
}

/** The waits a watch cache uses unless told otherwise. */
export const defaultBackoff: Backoff = { initialMs: 100, maxMs: 5_000 };

/**
 * The wait before attempt `failures` (1 after the first failure): doubling
 * from `initialMs` up to `maxMs`, with jitter (half to all of it) so that many
 * clients dropped at once by a restarting server do not all return together.
 */
export function backoffDelay(failures: number, backoff: Backoff, random: () => number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/**
 * Answers that watching again cannot change: the request is wrong, the token
 * may not do it, or the server lacks the call. Everything else (the server
 * restarting, a connection cut, NATS away: Unavailable, Internal, Unknown,
 * Canceled by the peer, ...) is worth another attempt.
 */
const permanent = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
  Code.FailedPrecondition,
]);

/** Whether to give up on a watch that failed with `err`. */
export function isPermanent(err: unknown): boolean {
  return err instanceof ConnectError && permanent.has(err.code);
}

/**
 * The server no longer has (or never had) the changes after the revision a
 * watch asked to resume from (OutOfRange): only a new list can say what the
 * state is now.
 */
export function isRevisionGone(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.OutOfRange;
}
