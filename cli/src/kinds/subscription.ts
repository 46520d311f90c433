import { type Filter, type Subscription, SubscriptionSchema, SubscriptionSpecSchema } from "@dispatch/proto";
import { ageColumn, nameColumn, statusColumn } from "./columns.js";
import { type Kind, metaOf } from "./kind.js";
import { resourceOps } from "./resource-ops.js";

/** A one-line summary of subscription filters: `type=order.created, source=/shop*`. */
export function describeFilters(filters: readonly Filter[]): string {
  const attrs = (m: { attributes: Record<string, string> } | undefined, before: string, after: string) =>
    Object.entries(m?.attributes ?? {})
      .map(([k, v]) => `${k}=${before}${v}${after}`)
      .join(" ");
  const one = (f: Filter): string => {
    const d = f.dialect;
    switch (d.case) {
      case "exact":
        return attrs(d.value, "", "");
      case "prefix":
        return attrs(d.value, "", "*");
      case "suffix":
        return attrs(d.value, "*", "");
      case "all":
      case "any":
        return `${d.case}(${d.value.filters.map(one).join(", ")})`;
      case "not":
        return `not(${one(d.value)})`;
      case "sql":
        return `sql(${d.value})`;
      default:
        return "?";
    }
  };
  return filters.length > 0 ? filters.map(one).join(", ") : "(all events)";
}

/** Subscriptions (`sub`): events delivered to functions. */
export const subscriptionKind: Kind = {
  kind: "Subscription",
  singular: "subscription",
  plural: "subscriptions",
  aliases: ["sub", "subs"],
  manifestAliases: [],
  schema: SubscriptionSchema,
  specSchema: SubscriptionSpecSchema,
  global: false,
  revealable: false,
  columns: [
    nameColumn,
    { header: "FUNCTION", value: (o) => (o as Subscription).spec?.function || "-" },
    { header: "FILTERS", value: (o) => describeFilters((o as Subscription).spec?.filters ?? []) },
    statusColumn,
    ageColumn,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.subscriptions, "subscription", false),
};
