import { durationMs } from "@bufbuild/protobuf/wkt";
import type { RetryPolicy } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import { compileHeaderMatcher, type RequestPredicate } from "./header-matcher.js";

/**
 * The `retry_on` conditions the gateway evaluates (Envoy's names). An HTTP/1.1
 * upstream has no refused streams, so `refused-stream` never fires; the gRPC
 * conditions read `grpc-status` from the response headers.
 */
const knownConditions = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

/** A compiled `RetryPolicy`. */
export interface CompiledRetryPolicy {
  readonly retryOn: ReadonlySet<string>;
  /** Retries after the first attempt (Envoy's default: 1). */
  readonly numRetries: number;
  /** The time one attempt may take to its response headers; undefined: only the route's timeout. */
  readonly perTryTimeoutMs: number | undefined;
  readonly retriableStatusCodes: ReadonlySet<number>;
  /** Response header matchers for `retriable-headers`. */
  readonly retriableHeaders: readonly RequestPredicate[];
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

/** Compiles a RetryPolicy. Unknown `retry_on` conditions are refused, as Envoy refuses them. */
export function compileRetryPolicy(policy: RetryPolicy, maxProgramSize: number): CompiledRetryPolicy {
  const retryOn = new Set<string>();
  for (const raw of policy.retryOn.split(",")) {
    const condition = raw.trim();
    if (condition === "") continue;
    if (!knownConditions.has(condition)) {
      throw new ConfigError("retry_on", `${JSON.stringify(condition)} is not a retry condition`);
    }
    retryOn.add(condition);
  }
  if (
    policy.retryPriority ||
    policy.retryHostPredicate.length > 0 ||
    policy.retryOptionsPredicates.length > 0
  ) {
    throw new ConfigError(
      "",
      "retry priorities and host or options predicates are not supported by the gateway",
    );
  }
  const baseMs = policy.retryBackOff?.baseInterval ? durationMs(policy.retryBackOff.baseInterval) : 25;
  if (baseMs <= 0) throw new ConfigError("retry_back_off.base_interval", "must be greater than 0");
  const maxMs = policy.retryBackOff?.maxInterval ? durationMs(policy.retryBackOff.maxInterval) : baseMs * 10;
  if (maxMs < baseMs) {
    throw new ConfigError("retry_back_off.max_interval", "must be greater than or equal to base_interval");
  }
  return {
    retryOn,
    numRetries: policy.numRetries ?? 1,
    perTryTimeoutMs: policy.perTryTimeout ? durationMs(policy.perTryTimeout) || undefined : undefined,
    retriableStatusCodes: new Set(policy.retriableStatusCodes),
    retriableHeaders: policy.retriableHeaders.map((h, i) =>
      within(`retriable_headers[${i}]`, () => compileHeaderMatcher(h, maxProgramSize)),
    ),
    backoffBaseMs: baseMs,
    backoffMaxMs: maxMs,
  };
}

/** Why an attempt failed, as retry conditions see it. */
export type AttemptFailure =
  | { kind: "connect-failure" }
  /** The connection broke or the upstream reset before a response arrived. */
  | { kind: "reset"; beforeRequestSent: boolean }
  /** The per-try timeout fired before response headers. */
  | { kind: "per-try-timeout" }
  | { kind: "response"; status: number; header: (name: string) => string | undefined };

/** Whether the policy retries this failure (before the retry budget is checked). */
export function shouldRetry(policy: CompiledRetryPolicy, failure: AttemptFailure): boolean {
  const on = policy.retryOn;
  switch (failure.kind) {
    case "connect-failure":
      return on.has("connect-failure") || on.has("5xx") || on.has("gateway-error") || on.has("reset");
    case "reset":
      return (
        on.has("reset") || on.has("5xx") || (failure.beforeRequestSent && on.has("reset-before-request"))
      );
    case "per-try-timeout":
      // Envoy: a per-try timeout counts as a 5xx/gateway-error for retries.
      return on.has("5xx") || on.has("gateway-error") || on.has("reset");
    case "response": {
      const s = failure.status;
      if (on.has("5xx") && s >= 500) return true;
      if (on.has("gateway-error") && (s === 502 || s === 503 || s === 504)) return true;
      if (on.has("retriable-4xx") && s === 409) return true;
      if (on.has("retriable-status-codes") && policy.retriableStatusCodes.has(s)) return true;
      if (on.has("envoy-ratelimited") && failure.header("x-envoy-ratelimited") !== undefined) return true;
      if (on.has("retriable-headers") && policy.retriableHeaders.length > 0) {
        const view = responseView(s, failure.header);
        if (policy.retriableHeaders.some((m) => m(view))) return true;
      }
      const grpc = grpcCondition(failure.header("grpc-status"));
      return grpc !== undefined && on.has(grpc);
    }
  }
}

/**
 * The wait before retry number `retry` (1-based): Envoy's fully jittered
 * exponential back-off, a random share of `base * (2^retry - 1)` capped at
 * `max`. `random` is in [0, 1).
 */
export function retryBackoffMs(policy: CompiledRetryPolicy, retry: number, random: number): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * (2 ** Math.min(retry, 30) - 1));
  return Math.floor(random * ceiling);
}

const grpcConditions: Record<string, string> = {
  "1": "cancelled",
  "4": "deadline-exceeded",
  "8": "resource-exhausted",
  "13": "internal",
  "14": "unavailable",
};

function grpcCondition(status: string | undefined): string | undefined {
  return status === undefined ? undefined : grpcConditions[status.trim()];
}

function responseView(status: number, header: (name: string) => string | undefined) {
  return {
    method: "",
    path: "",
    pathOnly: "",
    authority: "",
    scheme: "http" as const,
    header: (name: string) => (name === ":status" ? String(status) : header(name)),
    queryParameter: () => undefined,
  };
}
