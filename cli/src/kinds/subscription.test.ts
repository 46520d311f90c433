import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Phase, SubscriptionSchema } from "@dispatch/proto";
import test from "ava";
import { renderObjects } from "../output/format.js";
import { subscriptionKind } from "./subscription.js";

const now = new Date("2025-06-01T12:00:00Z");
const created = timestampFromDate(new Date("2025-06-01T11:58:00Z"));

test("get subscriptions: the filter and the broker's figures, - until the broker reported any", (t) => {
  const reported = create(SubscriptionSchema, {
    meta: { name: "orders", created },
    spec: {
      function: "ship-order",
      filters: [
        { dialect: { case: "exact", value: { attributes: { type: "order.created", source: "/shop" } } } },
      ],
    },
    status: {
      phase: Phase.READY,
      pending: 2n,
      delivered: 40n,
      failed: 3n,
      deadLettered: 1n,
      observed: timestampFromDate(now),
    },
  });
  const fresh = create(SubscriptionSchema, {
    meta: { name: "audit", created },
    spec: {
      function: "audit-log",
      filters: [{ dialect: { case: "sql", value: `subject LIKE '${"x".repeat(80)}'` } }],
    },
    status: { phase: Phase.INITIALIZED },
  });
  const table = renderObjects("table", subscriptionKind, [reported, fresh], { single: false, now });
  const lines = table.split("\n");
  t.regex(lines[0] ?? "", /^NAME\s+FUNCTION\s+FILTER\s+PENDING\s+DELIVERED\s+FAILED\s+DEAD\s+STATUS\s+AGE$/);
  t.regex(
    lines[1] ?? "",
    /^orders\s+ship-order\s+type=order\.created source=\/shop\s+2\s+40\s+3\s+1\s+READY\s+2m$/,
  );
  t.regex(lines[2] ?? "", /^audit\s+audit-log\s+sql\(subject LIKE 'x+…\s+-\s+-\s+-\s+-\s+INITIALIZED\s+2m$/);
});
