import type { RequestView } from "./request.js";
import type { ClusterChoice, PathRewrite, RedirectRouteAction, WeightedTarget } from "./route-action.js";
import type { PathSpecifier } from "./route-match.js";
import { stripPort } from "./virtual-host-index.js";

/** The cluster a forwarding route picked, and the weighted entry it came from (if any). */
export interface PickedCluster {
  /** Undefined when `cluster_header` names a header the request lacks. */
  readonly name: string | undefined;
  readonly weighted: WeightedTarget | undefined;
}

/**
 * Picks the cluster. For weighted clusters, as Envoy does: a draw in
 * [0, total) (from `random`, or from the number in the `header_name` header)
 * lands in the first entry whose cumulative weight exceeds it.
 */
export function pickCluster(choice: ClusterChoice, request: RequestView, random: number): PickedCluster {
  if (choice.kind === "single") return { name: targetName(choice.target, request), weighted: undefined };
  let draw = Math.floor(random * choice.total);
  if (choice.randomHeader !== undefined) {
    const value = request.header(choice.randomHeader);
    if (value !== undefined && /^[0-9]{1,15}$/.test(value)) draw = Number(value) % choice.total;
  }
  let cumulative = 0;
  for (const entry of choice.entries) {
    cumulative += entry.weight;
    if (draw < cumulative) return { name: targetName(entry.target, request), weighted: entry };
  }
  const last = choice.entries[choice.entries.length - 1];
  return { name: last ? targetName(last.target, request) : undefined, weighted: last };
}

function targetName(target: { name: string } | { header: string }, request: RequestView): string | undefined {
  return "name" in target ? target.name : request.header(target.header);
}

/**
 * The upstream `:path`: `prefix_rewrite` replaces what the route matched (the
 * prefix, or the whole path of an exact match), `regex_rewrite` substitutes in
 * the path; the query string is kept either way.
 */
export function rewritePath(path: string, matched: PathSpecifier, rewrite: PathRewrite | undefined): string {
  if (!rewrite) return path;
  const queryAt = path.search(/[?#]/);
  const pathOnly = queryAt === -1 ? path : path.slice(0, queryAt);
  const query = queryAt === -1 ? "" : path.slice(queryAt);
  if (rewrite.kind === "regex") return rewrite.regex.replaceAll(pathOnly, rewrite.substitution) + query;
  switch (matched.kind) {
    case "prefix":
      return rewrite.replacement + path.slice(matched.prefix.length);
    case "separated-prefix":
      return rewrite.replacement + pathOnly.slice(matched.prefix.length) + query;
    case "path":
      return rewrite.replacement + query;
    case "regex":
      return path;
  }
}

const defaultPorts: Record<string, string> = { http: "80", https: "443" };

/**
 * The `Location` of a redirect route, built as Envoy builds it: scheme, host
 * and port replaced where the action says (a port that is the default of the
 * scheme is dropped), the path redirected, prefix-rewritten or
 * regex-rewritten, and the query kept unless `strip_query` (a `path_redirect`
 * with its own query replaces it).
 */
export function redirectLocation(
  request: RequestView,
  action: RedirectRouteAction,
  matched: PathSpecifier,
): string {
  const scheme = action.scheme ?? request.scheme;
  let host = action.host ?? stripPort(request.authority);
  let port = portOf(request.authority);
  if (action.host !== undefined) port = portOf(action.host) ?? port;
  host = stripPort(host);
  if (action.port !== undefined) port = String(action.port);
  else if (scheme !== request.scheme && port === defaultPorts[request.scheme]) port = undefined;
  if (port !== undefined && port === defaultPorts[scheme]) port = undefined;

  const queryAt = request.path.search(/[?#]/);
  let pathOnly = queryAt === -1 ? request.path : request.path.slice(0, queryAt);
  let query = queryAt === -1 ? "" : request.path.slice(queryAt);
  const redirect = action.path;
  if (redirect?.kind === "path") {
    const q = redirect.path.indexOf("?");
    if (q === -1) pathOnly = redirect.path;
    else {
      pathOnly = redirect.path.slice(0, q);
      query = redirect.path.slice(q);
    }
  } else if (redirect?.kind === "prefix") {
    pathOnly = rewritePath(pathOnly, matched, { kind: "prefix", replacement: redirect.replacement });
  } else if (redirect?.kind === "regex") {
    pathOnly = redirect.regex.replaceAll(pathOnly, redirect.substitution);
  }
  if (action.stripQuery) query = "";
  return `${scheme}://${host}${port !== undefined ? `:${port}` : ""}${pathOnly}${query}`;
}

function portOf(authority: string): string | undefined {
  const host = stripPort(authority);
  return host.length < authority.length ? authority.slice(host.length + 1) : undefined;
}
