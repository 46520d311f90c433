/**
 * How an Endpoint's paths, hosts and methods become routes: the rules the
 * control plane validates with (conflicts are refused at create) and the
 * xds-server translates with, in one place.
 *
 * - A path is exact (`/hello`), a prefix (`/hello/*`: everything under
 *   `/hello/`) or an RE2 regular expression (`~^/items/[0-9]+$`) that must
 *   match the whole path.
 * - Without hosts, the default org's endpoints are served at their paths as
 *   given and every other org's under `/<org>`: `/hello` of org `acme` is
 *   `/acme/hello`. With hosts, the paths are served on those hosts as given.
 * - No methods means every method.
 * - Two endpoints may not serve the same (host, method, path); routes that
 *   only overlap are ordered most specific first, and every other org's
 *   routes before the default org's, so that the default org cannot shadow
 *   another org's paths under `/<org>`.
 */

/** The org whose endpoints are served at their paths as given. */
export const defaultOrg = "default";

/** One path of an endpoint, parsed. */
export type PathMatch =
  | { kind: "exact"; path: string }
  | { kind: "prefix"; prefix: string }
  | { kind: "regex"; regex: string };

/** `/hello` exact, `/hello/*` prefix `/hello/`, `~re` a regular expression. */
export function parsePath(path: string): PathMatch {
  if (path.startsWith("~")) return { kind: "regex", regex: path.slice(1) };
  if (path.endsWith("/*")) return { kind: "prefix", prefix: path.slice(0, -1) };
  return { kind: "exact", path };
}

/** The prefix an endpoint of `org` is served under (`/<org>`), or undefined when it is served at the root. */
export function orgPrefixOf(org: string, hasHosts: boolean): string | undefined {
  return hasHosts || org === "" || org === defaultOrg ? undefined : `/${org}`;
}

/** The path as served for an endpoint of `org`, with or without hosts of its own. */
export function servedPath(org: string, hasHosts: boolean, path: PathMatch): PathMatch {
  const base = orgPrefixOf(org, hasHosts);
  return base === undefined ? path : underPrefix(base, path);
}

/** The path served under `base` (`/acme`): `/hello` is `/acme/hello`, a regex must match after it. */
export function underPrefix(base: string, path: PathMatch): PathMatch {
  switch (path.kind) {
    case "exact":
      return { kind: "exact", path: `${base}${path.path}` };
    case "prefix":
      return { kind: "prefix", prefix: `${base}${path.prefix}` };
    case "regex":
      // The whole path must match: anchors at the ends are implied, and the group keeps
      // an alternation inside the expression from escaping the org's prefix.
      return {
        kind: "regex",
        regex: `${base}(?:${path.regex.replace(/^\^/, "").replace(/(?<!\\)\$$/, "")})`,
      };
  }
}

/** One (host, method, path) an endpoint serves; `*` for any host or method. */
export interface RouteClaim {
  host: string;
  method: string;
  /** The served path in one string: `=/acme/hello`, `^/acme/hello/`, `~/acme(?:…)`. */
  path: string;
}

/** What of an Endpoint the routing rules read. */
export interface RoutedEndpoint {
  meta?: { org: string; name: string } | undefined;
  spec?: { hosts: string[]; methods: string[]; paths: string[] } | undefined;
}

/** Every (host, method, path) the endpoint serves. */
export function routeClaims(endpoint: RoutedEndpoint): RouteClaim[] {
  const spec = endpoint.spec;
  if (!spec) return [];
  const org = endpoint.meta?.org ?? "";
  const hosts = spec.hosts.length > 0 ? spec.hosts.map((h) => h.toLowerCase()) : ["*"];
  const methods = spec.methods.length > 0 ? spec.methods.map((m) => m.toUpperCase()) : ["*"];
  const claims: RouteClaim[] = [];
  for (const raw of spec.paths) {
    const path = pathKey(servedPath(org, spec.hosts.length > 0, parsePath(raw)));
    for (const host of hosts) for (const method of methods) claims.push({ host, method, path });
  }
  return claims;
}

function pathKey(path: PathMatch): string {
  switch (path.kind) {
    case "exact":
      return `=${path.path}`;
    case "prefix":
      return `^${path.prefix}`;
    case "regex":
      return `~${path.regex}`;
  }
}

/** Whether two claims take the same requests: the same host and path, and a method in common. */
export function claimsCollide(a: RouteClaim, b: RouteClaim): boolean {
  return (
    a.host === b.host && a.path === b.path && (a.method === b.method || a.method === "*" || b.method === "*")
  );
}

/** A claim of `endpoint` that `other` already holds. */
export interface RouteConflict<E extends RoutedEndpoint> {
  other: E;
  claim: RouteClaim;
}

/**
 * The first endpoint of `others` (itself excluded, by org and name) that serves
 * a route `endpoint` claims. Routes that merely overlap (a prefix and an exact
 * path under it, a host and any host) are not conflicts: the more specific one
 * wins, as in Envoy.
 */
export function findRouteConflict<E extends RoutedEndpoint>(
  endpoint: RoutedEndpoint,
  others: Iterable<E>,
): RouteConflict<E> | undefined {
  const index = new RouteClaimIndex<E>();
  for (const other of others) index.set(other);
  return index.conflict(endpoint);
}

/** Who holds a (host, path): an endpoint and the methods it claims there. */
interface Holder<E> {
  endpoint: E;
  methods: string[];
}

/**
 * The routes every endpoint claims, indexed by (host, path), so that a new
 * endpoint's conflicts are found by looking up its own claims rather than by
 * reading every other endpoint. Also counts endpoints per org.
 */
export class RouteClaimIndex<E extends RoutedEndpoint> {
  /** `host path` → endpoint id → its methods there. */
  private readonly byRoute = new Map<string, Map<string, Holder<E>>>();
  /** endpoint id → the route keys it holds. */
  private readonly routesOf = new Map<string, string[]>();
  private readonly perOrg = new Map<string, number>();

  /** Adds an endpoint, or replaces what it claimed before. */
  set(endpoint: E): void {
    const id = idOf(endpoint);
    this.delete(endpoint.meta?.org ?? "", endpoint.meta?.name ?? "");
    const held = new Map<string, Holder<E>>();
    for (const claim of routeClaims(endpoint)) {
      const route = routeKey(claim);
      const holder = held.get(route);
      if (holder) holder.methods.push(claim.method);
      else held.set(route, { endpoint, methods: [claim.method] });
    }
    for (const [route, holder] of held) {
      const holders = this.byRoute.get(route) ?? new Map<string, Holder<E>>();
      holders.set(id, holder);
      this.byRoute.set(route, holders);
    }
    this.routesOf.set(id, [...held.keys()]);
    const org = endpoint.meta?.org ?? "";
    this.perOrg.set(org, (this.perOrg.get(org) ?? 0) + 1);
  }

  /** Forgets an endpoint; one it does not hold is no change. */
  delete(org: string, name: string): void {
    const id = `${org}/${name}`;
    const routes = this.routesOf.get(id);
    if (!routes) return;
    this.routesOf.delete(id);
    for (const route of routes) {
      const holders = this.byRoute.get(route);
      holders?.delete(id);
      if (holders?.size === 0) this.byRoute.delete(route);
    }
    const left = (this.perOrg.get(org) ?? 1) - 1;
    if (left > 0) this.perOrg.set(org, left);
    else this.perOrg.delete(org);
  }

  /** Whether the index holds the endpoint of this org and name. */
  has(org: string, name: string): boolean {
    return this.routesOf.has(`${org}/${name}`);
  }

  /** How many endpoints of `org` the index holds. */
  count(org: string): number {
    return this.perOrg.get(org) ?? 0;
  }

  /** An endpoint other than this one (by org and name) that serves a route it claims. */
  conflict(endpoint: RoutedEndpoint): RouteConflict<E> | undefined {
    const self = idOf(endpoint);
    for (const claim of routeClaims(endpoint)) {
      const holders = this.byRoute.get(routeKey(claim));
      if (!holders) continue;
      for (const [id, holder] of holders) {
        if (id === self) continue;
        for (const method of holder.methods) {
          const theirs = { host: claim.host, method, path: claim.path };
          // The requests both would take: with one method and "any", that method.
          if (claimsCollide(claim, theirs)) {
            return { other: holder.endpoint, claim: claim.method === "*" ? theirs : claim };
          }
        }
      }
    }
    return undefined;
  }
}

function idOf(endpoint: RoutedEndpoint): string {
  return `${endpoint.meta?.org ?? ""}/${endpoint.meta?.name ?? ""}`;
}

function routeKey(claim: RouteClaim): string {
  // A host never holds a space; the path comes last, so it may.
  return `${claim.host} ${claim.path}`;
}

/** A claim in words: `GET example.com/acme/hello`, `any method, any host, paths under /acme/hello/`. */
export function describeClaim(claim: RouteClaim): string {
  const method = claim.method === "*" ? "any method" : claim.method;
  const host = claim.host === "*" ? "any host" : `host ${claim.host}`;
  const kind = claim.path[0];
  const rest = claim.path.slice(1);
  const path =
    kind === "=" ? `path ${rest}` : kind === "^" ? `paths under ${rest}` : `paths matching ~${rest}`;
  return `${method}, ${host}, ${path}`;
}
