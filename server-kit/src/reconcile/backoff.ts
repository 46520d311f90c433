/** How retries of a failed reconcile are spaced. */
export interface BackoffOptions {
  /** The wait before the first retry; default 200 ms. */
  initialMs: number;
  /** The longest wait; default 60 s. */
  maxMs: number;
  /**
   * The share of each wait that is random (0 to 1; default 0.5): a wait of
   * `w` becomes one between `w * (1 - jitter)` and `w`, so that keys failing
   * together (an outage) do not all retry at the same moment.
   */
  jitter: number;
}

/** The default spacing: 200 ms, doubling up to 60 s, half of it random. */
export const defaultBackoff: BackoffOptions = { initialMs: 200, maxMs: 60_000, jitter: 0.5 };

/**
 * The wait before the retry that follows `failures` failures in a row
 * (1 for the first): exponential, capped, jittered with `random` (0 ≤ r < 1).
 *
 * @example
 * backoffDelay(3, defaultBackoff, Math.random) // between 400 and 800 ms
 */
export function backoffDelay(failures: number, options: BackoffOptions, random: () => number): number {
  const exponent = Math.max(0, failures - 1);
  // 2 ** 1024 is Infinity, and min() brings it back to the cap.
  const wait = Math.min(options.maxMs, options.initialMs * 2 ** exponent);
  return Math.round(wait * (1 - options.jitter * random()));
}
