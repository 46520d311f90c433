import { durationMs } from "@bufbuild/protobuf/wkt";
import { filterProblems, maxConcurrency, maxRetries } from "@dispatch/event-broker/rules";
import { Phase, type Subscription, SubscriptionSchema } from "@dispatch/proto";
import { checkName } from "../validation/violations.js";
import { checkDuration } from "./function.js";
import { binaryCodec, type Kind } from "./kind.js";

/** Subscriptions: CloudEvents delivered to a function. */
export const subscriptionKind: Kind<Subscription> = {
  name: "Subscription",
  label: "subscription",
  bucket: "subscriptions",
  schema: SubscriptionSchema,
  global: false,
  initialPhase: () => Phase.INITIALIZED,
  codec: binaryCodec(SubscriptionSchema),
  validate(sub, v) {
    const spec = sub.spec;
    if (!spec) {
      v.add("spec", "is required");
      return;
    }
    checkName(v, "spec.function", spec.function);
    // The broker's own rules (one set: @dispatch/event-broker/filters), CESQL compiled once here.
    for (const problem of filterProblems(spec.filters, "spec.filters")) v.add(problem.path, problem.message);
    const delivery = spec.delivery;
    if (delivery) {
      if (delivery.retries > maxRetries) {
        v.add("spec.delivery.retries", `is ${delivery.retries}; the limit is ${maxRetries}`);
      }
      checkDuration(v, "spec.delivery.timeout", delivery.timeout, 15 * 60 * 1000);
      checkDuration(v, "spec.delivery.backoff.delay", delivery.backoff?.delay, 24 * 3600 * 1000);
      checkDuration(v, "spec.delivery.backoff.max", delivery.backoff?.max, 24 * 3600 * 1000);
      const [delay, max] = [delivery.backoff?.delay, delivery.backoff?.max].map((d) =>
        d ? durationMs(d) : undefined,
      );
      if (delay !== undefined && max !== undefined && max < delay) {
        v.add(
          "spec.delivery.backoff.max",
          `is shorter than the delay (${delay / 1000}s): the longest wait must be at least the first`,
        );
      }
      if (!["", "store", "drop"].includes(delivery.deadLetter)) {
        v.add(
          "spec.delivery.dead_letter",
          `is "${delivery.deadLetter}"; use "store" (the default) or "drop"`,
        );
      }
      if (delivery.concurrency > maxConcurrency) {
        v.add("spec.delivery.concurrency", `is ${delivery.concurrency}; the limit is ${maxConcurrency}`);
      }
    }
  },
};
