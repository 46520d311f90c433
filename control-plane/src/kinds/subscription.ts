import { type Filter, Phase, type Subscription, SubscriptionSchema } from "@dispatch/proto";
import { checkName, type Violations } from "../validation/violations.js";
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
    for (const [i, f] of spec.filters.entries()) checkFilter(v, `spec.filters[${i}]`, f);
    if (spec.delivery) {
      if (spec.delivery.retries > 100)
        v.add("spec.delivery.retries", `is ${spec.delivery.retries}; the limit is 100`);
      checkDuration(v, "spec.delivery.timeout", spec.delivery.timeout, 15 * 60 * 1000);
    }
  },
};

function checkFilter(v: Violations, path: string, filter: Filter): void {
  const d = filter.dialect;
  switch (d.case) {
    case undefined:
      v.add(path, "names no dialect (use exact, prefix, suffix, all, any, not or sql)");
      return;
    case "exact":
    case "prefix":
    case "suffix":
      if (Object.keys(d.value.attributes).length === 0) {
        v.add(`${path}.${d.case}`, 'needs at least one attribute (e.g. {"type": "com.example.created"})');
      }
      for (const [name, value] of Object.entries(d.value.attributes)) {
        if (!/^[a-z0-9]{1,20}$/.test(name)) {
          v.add(
            `${path}.${d.case}.${name}`,
            "is not a CloudEvents attribute name (lowercase letters and digits)",
          );
        }
        if (value === "" && d.case !== "exact") v.add(`${path}.${d.case}.${name}`, "must not be empty");
      }
      return;
    case "all":
    case "any":
      if (d.value.filters.length === 0) v.add(`${path}.${d.case}`, "needs at least one filter");
      for (const [i, f] of d.value.filters.entries()) checkFilter(v, `${path}.${d.case}[${i}]`, f);
      return;
    case "not":
      checkFilter(v, `${path}.not`, d.value);
      return;
    case "sql":
      if (d.value.trim() === "") v.add(`${path}.sql`, "must not be empty");
      return;
  }
}
