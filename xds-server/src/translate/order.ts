import type { PathMatchIR, RouteIR } from "../ir/ir.js";

/** Code-unit order: the same on every machine and locale (unlike `localeCompare`). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorted copy without duplicates, in {@link compareStrings} order. */
export function sortedUnique(values: Iterable<string>): string[] {
  return [...new Set(values)].sort(compareStrings);
}

const kindRank = { exact: 0, regex: 1, prefix: 2 } as const;

/**
 * Match order within a virtual host (the proxy takes the first route that
 * matches): other orgs' routes (served under `/<org>`) before the default
 * org's, so that the default org cannot shadow another org's paths; then
 * exact paths, regexes, and prefixes longest first; at the
 * same path, a host's own routes before those it shares with every host (the
 * host's owner decides what its paths do), then routes that name methods
 * before those for every method. The rest only makes the order total, so it
 * never depends on input order.
 */
export function compareRoutes(a: RouteForOrder, b: RouteForOrder): number {
  return (
    Number(a.route.stripPrefix === undefined) - Number(b.route.stripPrefix === undefined) ||
    kindRank[a.route.match.kind] - kindRank[b.route.match.kind] ||
    matchLength(b.route.match) - matchLength(a.route.match) ||
    compareStrings(matchValue(a.route.match), matchValue(b.route.match)) ||
    Number(a.anyHost) - Number(b.anyHost) ||
    Number(a.route.methods.length === 0) - Number(b.route.methods.length === 0) ||
    compareStrings(a.route.name, b.route.name)
  );
}

/** A route and whether it came from the any-host set. */
export interface RouteForOrder {
  route: RouteIR;
  anyHost: boolean;
}

function matchLength(match: PathMatchIR): number {
  return match.kind === "prefix" ? match.prefix.length : 0;
}

/** The path, prefix or regex of a match. */
export function matchValue(match: PathMatchIR): string {
  switch (match.kind) {
    case "exact":
      return match.path;
    case "prefix":
      return match.prefix;
    case "regex":
      return match.regex;
  }
}

/** Whether two routes on one host would take the same requests: same match, overlapping methods. */
export function routesCollide(a: RouteIR, b: RouteIR): boolean {
  if (a.match.kind !== b.match.kind || matchValue(a.match) !== matchValue(b.match)) return false;
  if (a.methods.length === 0 || b.methods.length === 0) return true;
  return a.methods.some((m) => b.methods.includes(m));
}
