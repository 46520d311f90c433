import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { FractionalPercent_DenominatorType, LocalRateLimitSchema } from "@dispatch/proto/envoy";
import test from "ava";
import { compileRateLimit, RateLimiter } from "../../src/filters/rate-limit.js";
import { ConfigError } from "../../src/route-table/config-error.js";

const all = {
  defaultValue: { numerator: 100, denominator: FractionalPercent_DenominatorType.HUNDRED },
  runtimeKey: "k",
};
const limit = (extra: object = {}) =>
  compileRateLimit(
    create(LocalRateLimitSchema, {
      statPrefix: "rl",
      tokenBucket: { maxTokens: 3, tokensPerFill: 3, fillInterval: durationFromMs(1_000) },
      filterEnabled: all,
      filterEnforced: all,
      ...extra,
    }),
  );

test("rate limit: a full bucket passes max_tokens requests, then refuses until the next fill", (t) => {
  const limiter = new RateLimiter();
  const config = limit();
  const at = (now: number) => limiter.decide("route", config, now, () => 0).limited;
  t.deepEqual([at(0), at(1), at(2), at(3)], [false, false, false, true]);
  t.true(at(999), "still empty just before the interval ends");
  t.deepEqual(
    [at(1_000), at(1_001), at(1_002), at(1_003)],
    [false, false, false, true],
    "refilled in whole intervals",
  );
});

test("rate limit: buckets are per route, and a changed limit starts a fresh bucket", (t) => {
  const limiter = new RateLimiter();
  const config = limit();
  for (let i = 0; i < 3; i++) limiter.decide("a", config, 0, () => 0);
  t.true(limiter.decide("a", config, 0, () => 0).limited);
  t.false(limiter.decide("b", config, 0, () => 0).limited);
  const bigger = limit({
    tokenBucket: { maxTokens: 10, tokensPerFill: 10, fillInterval: durationFromMs(1_000) },
  });
  t.false(limiter.decide("a", bigger, 0, () => 0).limited);
});

test("rate limit: Envoy's defaults leave the filter off; unenforced limits only mark the request", (t) => {
  const limiter = new RateLimiter();
  const off = compileRateLimit(
    create(LocalRateLimitSchema, {
      statPrefix: "rl",
      tokenBucket: { maxTokens: 1, fillInterval: durationFromMs(1_000) },
    }),
  );
  for (let i = 0; i < 5; i++) t.false(limiter.decide("off", off, 0, () => 0).limited);
  const shadow = limit({
    filterEnforced: undefined,
    requestHeadersToAddWhenNotEnforced: [{ header: { key: "x-over-limit", value: "true" } }],
  });
  for (let i = 0; i < 3; i++) limiter.decide("shadow", shadow, 0, () => 0);
  const over = limiter.decide("shadow", shadow, 0, () => 0);
  t.false(over.limited);
  t.deepEqual(over.requestHeaders, [["x-over-limit", "true"]]);
});

test("rate limit: x-ratelimit headers report the limit, what is left and when it refills", (t) => {
  const limiter = new RateLimiter();
  const config = limit({ enableXRatelimitHeaders: 1 });
  t.deepEqual(limiter.decide("h", config, 0, () => 0).responseHeaders, [
    ["x-ratelimit-limit", "3"],
    ["x-ratelimit-remaining", "2"],
    ["x-ratelimit-reset", "1"],
  ]);
});

test("rate limit: descriptors and too short intervals are refused", (t) => {
  t.throws(
    () =>
      limit({
        descriptors: [
          {
            entries: [{ key: "k", value: "v" }],
            tokenBucket: { maxTokens: 1, fillInterval: durationFromMs(1_000) },
          },
        ],
      }),
    {
      instanceOf: ConfigError,
      message: /descriptors/,
    },
  );
  t.throws(() => limit({ tokenBucket: { maxTokens: 1, fillInterval: durationFromMs(10) } }), {
    instanceOf: ConfigError,
    message: /at least 50ms/,
  });
});
