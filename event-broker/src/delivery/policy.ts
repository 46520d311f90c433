import { type Duration, durationMs } from "@bufbuild/protobuf/wkt";
import { BackoffPolicy, Ordering, type Subscription } from "@dispatch/proto";
import { maxConcurrency, maxRetries } from "./limits.js";

/** How a subscription delivers, with every default filled in. */
export interface DeliveryPolicy {
  /** Attempts after the first. */
  retries: number;
  backoff: { policy: "linear" | "exponential"; delayMs: number; maxMs: number };
  /** One attempt's deadline; undefined: the function's own timeout. */
  timeoutMs: number | undefined;
  /** After the last failed attempt: keep it in the dead letters, or drop it. */
  deadLetter: "store" | "drop";
  ordered: boolean;
  /** Events in flight at once (1 when ordered). */
  concurrency: number;
}

/** Without a `delivery`: three retries, exponential from 1 s to a minute, dead letters kept. */
export const defaultDelivery: DeliveryPolicy = {
  retries: 3,
  backoff: { policy: "exponential", delayMs: 1000, maxMs: 60_000 },
  timeoutMs: undefined,
  deadLetter: "store",
  ordered: false,
  concurrency: 16,
};

export function deliveryPolicy(subscription: Subscription): DeliveryPolicy {
  const spec = subscription.spec;
  const d = spec?.delivery;
  const ordered = spec?.ordering === Ordering.ORDERED;
  if (!d) return { ...defaultDelivery, ordered, concurrency: ordered ? 1 : defaultDelivery.concurrency };
  // A stored record may hold anything: a negative duration counts as none.
  const ms = (value: Duration | undefined, fallback: number) =>
    value ? Math.max(0, durationMs(value)) : fallback;
  return {
    retries: Math.min(d.retries, maxRetries),
    backoff: {
      policy: d.backoff?.policy === BackoffPolicy.LINEAR ? "linear" : "exponential",
      delayMs: ms(d.backoff?.delay, defaultDelivery.backoff.delayMs),
      maxMs: ms(d.backoff?.max, defaultDelivery.backoff.maxMs),
    },
    timeoutMs: d.timeout ? ms(d.timeout, 0) : undefined,
    deadLetter: d.deadLetter === "drop" ? "drop" : "store",
    ordered,
    concurrency: ordered ? 1 : Math.min(d.concurrency || defaultDelivery.concurrency, maxConcurrency),
  };
}

/**
 * The wait before retry number `retry` (1 for the first retry): linear
 * `delay × retry`, exponential `delay × 2^(retry-1)`, at most `max`.
 */
export function retryDelayMs(policy: DeliveryPolicy["backoff"], retry: number): number {
  const n = Math.max(1, retry);
  const raw = policy.policy === "linear" ? policy.delayMs * n : policy.delayMs * 2 ** Math.min(n - 1, 40);
  return Math.min(raw, Math.max(policy.maxMs, policy.delayMs));
}
