import {
  type Filter,
  type Subscription,
  SubscriptionSchema,
  SubscriptionSpecSchema,
  type SubscriptionStatus,
} from "@dispatch/proto";
import { ageColumn, nameColumn, shorten, statusColumn } from "./columns.js";
import { type Column, type Kind, metaOf } from "./kind.js";
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

/** Whether the event broker has reported delivery figures for a subscription. */
function hasFigures(status: SubscriptionStatus | undefined): boolean {
  if (!status) return false;
  return (
    status.observed !== undefined ||
    [status.pending, status.delivered, status.failed, status.deadLettered].some((n) => n > 0n)
  );
}

/**
 * A column of the delivery figures the event broker reports in the status;
 * `-` until it has reported any (no broker runs, or it has not reached this
 * subscription yet).
 */
function figureColumn(header: string, figure: (status: SubscriptionStatus) => bigint): Column {
  return {
    header,
    value(o) {
      const status = (o as Subscription).status;
      return status && hasFigures(status) ? String(figure(status)) : "-";
    },
  };
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
    { header: "FILTER", value: (o) => shorten(describeFilters((o as Subscription).spec?.filters ?? []), 60) },
    figureColumn("PENDING", (s) => s.pending),
    figureColumn("DELIVERED", (s) => s.delivered),
    figureColumn("FAILED", (s) => s.failed),
    figureColumn("DEAD", (s) => s.deadLettered),
    statusColumn,
    ageColumn,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.subscriptions, "subscription", false),
};
