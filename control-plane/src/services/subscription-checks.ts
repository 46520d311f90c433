/**
 * What the control plane checks of a subscription against what it stores:
 * the function it names exists, and its org stays within its quota (each
 * subscription is a durable consumer on the broker's streams, so an org may
 * not make them without bound).
 */
import type { Function as FunctionResource, Subscription } from "@dispatch/proto";
import type { ResourceStore } from "../store/resource-store.js";
import type { Violations } from "../validation/violations.js";

/** Most subscriptions one org may have, unless the installation says otherwise. */
export const defaultMaxSubscriptionsPerOrg = 1_000;

/** Refuses a subscription of a function that does not exist, or one past its org's quota. */
export async function checkSubscription(
  stores: { subscriptions: ResourceStore<Subscription>; functions: ResourceStore<FunctionResource> },
  subscription: Subscription,
  at: { org: string; name: string },
  v: Violations,
  maxPerOrg = defaultMaxSubscriptionsPerOrg,
): Promise<void> {
  // A subscription names a function that exists (it may go later: its events then wait and are retried).
  const fn = subscription.spec?.function ?? "";
  if (fn !== "" && !(await stores.functions.get(`${at.org}.${fn}`))) {
    v.add(
      "spec.function",
      `names function "${fn}", which does not exist in org "${at.org}": create it first`,
    );
  }
  const { items } = await stores.subscriptions.list(`${at.org}.*`);
  const others = items.filter(({ object }) => (object.meta?.name ?? "") !== at.name).length;
  if (others >= maxPerOrg) {
    v.add(
      "meta.name",
      `org "${at.org}" has ${others} subscriptions, the most it may have (the installation's limit); delete one first, or ask an operator to raise the limit`,
    );
  }
}
