/**
 * What the control plane checks of an endpoint against the others it stores:
 * its org's quota and route conflicts at create and update, and which secret
 * a token-auth endpoint names (the one a component may read the values of).
 */
import { describeClaim, type Endpoint, findRouteConflict } from "@dispatch/proto";
import type { ResourceStore } from "../store/resource-store.js";
import type { Violations } from "../validation/violations.js";

/** Most endpoints one org may have, unless the installation says otherwise. */
export const defaultMaxEndpointsPerOrg = 10_000;

/**
 * Refuses an endpoint past its org's quota, or one that would serve a (host, method, path) another
 * endpoint already serves, naming that one. Two creates at the same moment
 * can both pass: the translator then serves the older one and reports the
 * other as conflicting, so the wire never carries two routes for one request.
 */
export async function checkAgainstOtherEndpoints(
  store: ResourceStore<Endpoint>,
  endpoint: Endpoint,
  at: { org: string; name: string },
  v: Violations,
  maxPerOrg = defaultMaxEndpointsPerOrg,
): Promise<void> {
  const candidate = { meta: { org: at.org, name: at.name }, spec: endpoint.spec };
  const { items } = await store.list("*.*");
  // Every endpoint is a route on every proxy: an org may not grow the configuration without bound.
  const others = items.filter(
    ({ object }) => (object.meta?.org ?? "") === at.org && (object.meta?.name ?? "") !== at.name,
  ).length;
  if (others >= maxPerOrg) {
    v.add(
      "meta.name",
      `org "${at.org}" has ${others} endpoints, the most it may have (the installation's limit); delete one first, or ask an operator to raise the limit`,
    );
    return;
  }
  const conflict = findRouteConflict(
    candidate,
    items.map((item) => item.object),
  );
  if (!conflict) return;
  const other = conflict.other.meta;
  // Another org's names are not this caller's to learn.
  const whose = other?.org === at.org ? `endpoint "${other?.name}"` : "an endpoint of another org";
  v.add(
    "spec.paths",
    `${describeClaim(conflict.claim)} is already served by ${whose}; choose another path, host or method, or change that endpoint`,
  );
}

/**
 * Whether an endpoint of the org names this secret as its token secret: the
 * one secret a component (the xds-server) may read the values of, to put the
 * endpoint's accepted tokens on its routes.
 */
export async function isTokenSecret(
  store: ResourceStore<Endpoint>,
  at: { org: string; name: string },
): Promise<boolean> {
  const { items } = await store.list(`${at.org}.*`);
  return items.some(({ object }) => {
    const mode = object.spec?.auth?.mode;
    return mode?.case === "token" && mode.value.secret === at.name;
  });
}
