/** The wildcard resource name (xds_protocol: "How the client specifies what resources to return"). */
export const WILDCARD = "*";

/**
 * What one client asked for of one type: every resource (wildcard), named
 * ones, or both. A client that has never named a resource is a legacy wildcard
 * subscriber; once it has named any (`"*"` included), an empty list means
 * nothing.
 */
export interface Subscription {
  wildcard: boolean;
  names: Set<string>;
  everNamed: boolean;
}

/** A subscription to nothing yet. */
export function createSubscription(): Subscription {
  return { wildcard: false, names: new Set(), everNamed: false };
}

/** Whether the subscription asks for `name`. */
export function covers(sub: Subscription, name: string): boolean {
  return sub.wildcard || sub.names.has(name);
}

/**
 * SotW: each request states the whole subscription. Returns whether it changed.
 */
export function replaceSotwSubscription(sub: Subscription, requested: readonly string[]): boolean {
  const before = `${sub.wildcard}|${[...sub.names].sort().join(",")}`;
  if (requested.length === 0) {
    // The legacy wildcard: only for a client that never named a resource.
    sub.wildcard = !sub.everNamed;
    sub.names = new Set();
  } else {
    sub.everNamed = true;
    sub.wildcard = requested.includes(WILDCARD);
    sub.names = new Set(requested.filter((n) => n !== WILDCARD));
  }
  return before !== `${sub.wildcard}|${[...sub.names].sort().join(",")}`;
}

/**
 * Delta: each request adds and removes names. On the stream's first request
 * for the type, an empty subscribe list is the legacy wildcard. Returns the
 * names newly asked for and the explicit names dropped.
 */
export function applyDeltaSubscription(
  sub: Subscription,
  subscribe: readonly string[],
  unsubscribe: readonly string[],
  first: boolean,
): { subscribed: string[]; unsubscribed: string[] } {
  if (first && subscribe.length === 0 && !sub.everNamed) sub.wildcard = true;
  const subscribed: string[] = [];
  const unsubscribed: string[] = [];
  for (const name of subscribe) {
    sub.everNamed = true;
    if (name === WILDCARD) sub.wildcard = true;
    else {
      sub.names.add(name);
      subscribed.push(name);
    }
  }
  for (const name of unsubscribe) {
    if (name === WILDCARD) sub.wildcard = false;
    else if (sub.names.delete(name)) unsubscribed.push(name);
  }
  return { subscribed, unsubscribed };
}
