import { durationMs } from "@bufbuild/protobuf/wkt";
import type { HeaderValueOption, LocalRateLimit } from "@dispatch/proto/envoy";
import { ConfigError } from "../route-table/config-error.js";
import { fractionOf } from "../route-table/runtime-fraction.js";

/** A compiled `envoy.filters.http.local_ratelimit` config (listener level or per route). */
export interface RateLimitConfig {
  /** Undefined: the config limits nothing (a listener-level filter without a bucket). */
  readonly bucket: TokenBucketSpec | undefined;
  /** Shares of requests the limit is checked for and enforced for (Envoy's defaults: 0). */
  readonly enabled: number;
  readonly enforced: number;
  /** The status of a limited request (default 429). */
  readonly status: number;
  readonly responseHeadersToAdd: readonly (readonly [string, string])[];
  readonly requestHeadersToAddWhenNotEnforced: readonly (readonly [string, string])[];
  /** Whether responses carry `x-ratelimit-limit`, `-remaining` and `-reset`. */
  readonly xRateLimitHeaders: boolean;
}

/** A token bucket: starts full, gets `tokensPerFill` back every `fillIntervalMs`, up to `maxTokens`. */
export interface TokenBucketSpec {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/**
 * Compiles a LocalRateLimit. As in Envoy, `filter_enabled` and
 * `filter_enforced` default to 0% (a config must switch itself on), the fill
 * interval is at least 50 ms, and descriptors (which need route rate limit
 * actions) are refused here rather than silently not applied.
 */
export function compileRateLimit(config: LocalRateLimit): RateLimitConfig {
  if (config.descriptors.length > 0) {
    throw new ConfigError("descriptors", "rate limit descriptors are not supported by the gateway");
  }
  if (config.localRateLimitPerDownstreamConnection) {
    throw new ConfigError("local_rate_limit_per_downstream_connection", "is not supported by the gateway");
  }
  if (config.localClusterRateLimit)
    throw new ConfigError("local_cluster_rate_limit", "is not supported by the gateway");
  let bucket: TokenBucketSpec | undefined;
  if (config.tokenBucket) {
    const fill = config.tokenBucket.fillInterval;
    if (!fill) throw new ConfigError("token_bucket.fill_interval", "is required");
    const fillIntervalMs = durationMs(fill);
    if (fillIntervalMs < 50) throw new ConfigError("token_bucket.fill_interval", "must be at least 50ms");
    if (config.tokenBucket.maxTokens < 1)
      throw new ConfigError("token_bucket.max_tokens", "must be at least 1");
    bucket = {
      maxTokens: config.tokenBucket.maxTokens,
      tokensPerFill: config.tokenBucket.tokensPerFill ?? 1,
      fillIntervalMs,
    };
  }
  const status = config.status?.code;
  return {
    bucket,
    enabled: fractionOf(config.filterEnabled),
    enforced: fractionOf(config.filterEnforced),
    status: status !== undefined && status >= 400 ? status : 429,
    responseHeadersToAdd: pairs(config.responseHeadersToAdd),
    requestHeadersToAddWhenNotEnforced: pairs(config.requestHeadersToAddWhenNotEnforced),
    xRateLimitHeaders: config.enableXRatelimitHeaders !== 0,
  };
}

function pairs(options: readonly HeaderValueOption[]): [string, string][] {
  return options.flatMap((o) =>
    o.header ? [[o.header.key.toLowerCase(), o.header.value] as [string, string]] : [],
  );
}

/** The state of one bucket. */
interface BucketState {
  tokens: number;
  /** When the last fill happened (ms). */
  lastFill: number;
}

/** What the limiter decided for one request. */
export interface RateLimitDecision {
  /** Whether the request is refused. */
  readonly limited: boolean;
  /** Headers for the request when it was over the limit but the limit is not enforced. */
  readonly requestHeaders: readonly (readonly [string, string])[];
  /** Headers for whatever response the request gets. */
  readonly responseHeaders: readonly (readonly [string, string])[];
}

const pass: RateLimitDecision = { limited: false, requestHeaders: [], responseHeaders: [] };

/**
 * The token buckets of the local rate limits. A bucket is keyed by where its
 * config sits (listener filter or route) and by its spec, so a config push
 * that leaves a route's limit alone leaves its bucket alone, and a changed
 * limit starts a fresh, full bucket. At most `maxBuckets` are kept (the least
 * recently used go first).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, BucketState>();

  constructor(private readonly maxBuckets = 10_000) {}

  /**
   * Takes a token for a request. `now` is the clock in ms; `random` draws the
   * enabled/enforced shares.
   */
  decide(key: string, config: RateLimitConfig, now: number, random: () => number): RateLimitDecision {
    const spec = config.bucket;
    if (!spec || !(random() < config.enabled)) return pass;
    const id = `${key}\u0000${spec.maxTokens}/${spec.tokensPerFill}/${spec.fillIntervalMs}`;
    let state = this.buckets.get(id);
    if (state) {
      this.buckets.delete(id);
    } else {
      state = { tokens: spec.maxTokens, lastFill: now };
      if (this.buckets.size >= this.maxBuckets) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    this.buckets.set(id, state);
    refill(state, spec, now);
    const allowed = state.tokens >= 1;
    if (allowed) state.tokens -= 1;
    const headers: [string, string][] = [];
    if (config.xRateLimitHeaders) {
      const resetMs = Math.max(0, state.lastFill + spec.fillIntervalMs - now);
      headers.push(
        ["x-ratelimit-limit", String(spec.maxTokens)],
        ["x-ratelimit-remaining", String(Math.floor(state.tokens))],
        ["x-ratelimit-reset", String(Math.ceil(resetMs / 1000))],
      );
    }
    if (allowed) return { limited: false, requestHeaders: [], responseHeaders: headers };
    if (random() < config.enforced) {
      return {
        limited: true,
        requestHeaders: [],
        responseHeaders: [...headers, ...config.responseHeadersToAdd],
      };
    }
    return {
      limited: false,
      requestHeaders: config.requestHeadersToAddWhenNotEnforced,
      responseHeaders: headers,
    };
  }
}

/** Envoy fills on a timer, in whole intervals: so does this, computed when a request comes. */
function refill(state: BucketState, spec: TokenBucketSpec, now: number): void {
  if (now <= state.lastFill) return;
  const fills = Math.floor((now - state.lastFill) / spec.fillIntervalMs);
  if (fills === 0) return;
  state.tokens = Math.min(spec.maxTokens, state.tokens + fills * spec.tokensPerFill);
  state.lastFill += fills * spec.fillIntervalMs;
}
