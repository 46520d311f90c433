import { create } from "@bufbuild/protobuf";
import { BackoffPolicy, Ordering, type Subscription, SubscriptionSchema } from "@dispatch/proto";
import test from "ava";
import { maxConcurrency, maxRetries } from "./limits.js";
import { type DeliveryPolicy, defaultDelivery, deliveryPolicy, retryDelayMs } from "./policy.js";

type SpecInit = NonNullable<Parameters<typeof create<typeof SubscriptionSchema>>[1]>["spec"];

const subscription = (spec?: SpecInit): Subscription =>
  create(SubscriptionSchema, spec ? { spec: { function: "f", ...spec } } : {});

const seconds = (s: number, nanos = 0) => ({ seconds: BigInt(s), nanos });

test("deliveryPolicy: without delivery, the defaults: 3 retries, exponential 1 s to 1 min, dead letters kept, 16 at once", (t) => {
  const expected: DeliveryPolicy = {
    retries: 3,
    backoff: { policy: "exponential", delayMs: 1000, maxMs: 60_000 },
    timeoutMs: undefined,
    deadLetter: "store",
    ordered: false,
    concurrency: 16,
  };
  t.deepEqual(defaultDelivery, expected);
  t.deepEqual(deliveryPolicy(subscription({})), expected);
  t.deepEqual(deliveryPolicy(subscription()), expected, "no spec at all");
  t.deepEqual(deliveryPolicy(subscription({ ordering: Ordering.UNORDERED })), expected);
});

test("deliveryPolicy: ordered without delivery: the defaults, one at a time", (t) => {
  t.deepEqual(deliveryPolicy(subscription({ ordering: Ordering.ORDERED })), {
    ...defaultDelivery,
    ordered: true,
    concurrency: 1,
  });
});

test("deliveryPolicy: every field of delivery taken", (t) => {
  const policy = deliveryPolicy(
    subscription({
      delivery: {
        retries: 5,
        backoff: { policy: BackoffPolicy.LINEAR, delay: seconds(2), max: seconds(30) },
        timeout: seconds(10, 500_000_000),
        deadLetter: "drop",
        concurrency: 50,
      },
    }),
  );
  t.deepEqual(policy, {
    retries: 5,
    backoff: { policy: "linear", delayMs: 2000, maxMs: 30_000 },
    timeoutMs: 10_500,
    deadLetter: "drop",
    ordered: false,
    concurrency: 50,
  });
});

test("deliveryPolicy: an empty delivery: no retries (0 means none), default backoff, 16 at once", (t) => {
  t.deepEqual(deliveryPolicy(subscription({ delivery: {} })), {
    retries: 0,
    backoff: { policy: "exponential", delayMs: 1000, maxMs: 60_000 },
    timeoutMs: undefined,
    deadLetter: "store",
    ordered: false,
    concurrency: 16,
  });
});

test("deliveryPolicy: backoff policies; a delay alone keeps the default max", (t) => {
  const backoff = (policy: BackoffPolicy) =>
    deliveryPolicy(subscription({ delivery: { backoff: { policy, delay: seconds(0, 250_000_000) } } }))
      .backoff;
  t.deepEqual(backoff(BackoffPolicy.EXPONENTIAL), { policy: "exponential", delayMs: 250, maxMs: 60_000 });
  t.deepEqual(backoff(BackoffPolicy.UNSPECIFIED), { policy: "exponential", delayMs: 250, maxMs: 60_000 });
  t.deepEqual(backoff(BackoffPolicy.LINEAR), { policy: "linear", delayMs: 250, maxMs: 60_000 });
});

test("deliveryPolicy: dead_letter other than drop keeps them", (t) => {
  for (const deadLetter of ["", "store"]) {
    t.is(deliveryPolicy(subscription({ delivery: { deadLetter } })).deadLetter, "store");
  }
});

test("deliveryPolicy: retries and concurrency are capped", (t) => {
  const policy = deliveryPolicy(subscription({ delivery: { retries: 100_000, concurrency: 100_000 } }));
  t.is(policy.retries, maxRetries);
  t.is(policy.concurrency, maxConcurrency);
});

test("deliveryPolicy: ordered takes one at a time whatever concurrency says", (t) => {
  const policy = deliveryPolicy(
    subscription({ ordering: Ordering.ORDERED, delivery: { retries: 2, concurrency: 50 } }),
  );
  t.true(policy.ordered);
  t.is(policy.concurrency, 1);
  t.is(policy.retries, 2);
});

const linear = (delayMs: number, maxMs: number): DeliveryPolicy["backoff"] => ({
  policy: "linear",
  delayMs,
  maxMs,
});
const exponential = (delayMs: number, maxMs: number): DeliveryPolicy["backoff"] => ({
  policy: "exponential",
  delayMs,
  maxMs,
});

const delays: [string, DeliveryPolicy["backoff"], number[]][] = [
  ["linear: delay × n", linear(1000, 60_000), [1000, 2000, 3000, 4000, 5000]],
  ["linear: capped at max", linear(1000, 2500), [1000, 2000, 2500, 2500, 2500]],
  ["exponential: delay × 2^(n-1)", exponential(1000, 60_000), [1000, 2000, 4000, 8000, 16_000]],
  ["exponential: capped at max", exponential(1000, 5000), [1000, 2000, 4000, 5000, 5000]],
  [
    "exponential: a delay above max waits the delay each time",
    exponential(120_000, 60_000),
    [120_000, 120_000],
  ],
  ["linear: zero delay", linear(0, 60_000), [0, 0, 0]],
];

for (const [name, backoff, expected] of delays) {
  test(`retryDelayMs: ${name}`, (t) => {
    t.deepEqual(
      expected.map((_, i) => retryDelayMs(backoff, i + 1)),
      expected,
    );
  });
}

test("retryDelayMs: a retry number below 1 counts as the first", (t) => {
  t.is(retryDelayMs(exponential(1000, 60_000), 0), 1000);
  t.is(retryDelayMs(linear(1000, 60_000), -3), 1000);
});

test("retryDelayMs: the hundredth exponential retry is the max, a finite number", (t) => {
  t.is(retryDelayMs(exponential(24 * 3600_000, 24 * 3600_000), 100), 24 * 3600_000);
  t.is(retryDelayMs(exponential(1000, 60_000), maxRetries), 60_000);
  t.is(retryDelayMs(exponential(1000, 60_000), 10_000), 60_000);
});
