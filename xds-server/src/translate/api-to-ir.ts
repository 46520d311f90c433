import { type Function as FunctionResource, upstreamHeaders } from "@dispatch/proto";
import {
  ANY_HOST,
  type FunctionClusterIR,
  type IngressIR,
  type JwksClusterIR,
  type JwtProviderIR,
  type RouteIR,
  type VirtualHostIR,
} from "../ir/ir.js";
import { type EndpointPlan, planEndpoint } from "./endpoint-plan.js";
import { functionTarget } from "./function-target.js";
import { type HostRoute, TranslationMemo } from "./memo.js";
import type { ResolvedTranslateOptions } from "./options.js";
import { compareRoutes, compareStrings, matchValue, routesCollide, sortedUnique } from "./order.js";
import type { EndpointProblem, IngressSnapshot } from "./snapshot.js";

/** The IR and every endpoint problem found on the way. */
export interface ApiTranslation {
  ir: IngressIR;
  /** Sorted by endpoint, then reason. */
  problems: EndpointProblem[];
}

/**
 * Translates the ingress state into the IR: each endpoint checked on its own
 * (a bad one never takes others down), route conflicts settled by age (the
 * older endpoint keeps the route; ties by name), routes sorted in match order,
 * and one cluster per function a served route forwards to. Pure: the same
 * snapshot gives the same IR whatever the order of its lists.
 *
 * @param exclude endpoints (`<org>/<name>`) to leave out, e.g. those whose
 *   Envoy resources failed validation; their problems are the caller's to report
 * @param memo what the last translation made, to reuse for what did not change
 */
export function translateApiToIr(
  snapshot: IngressSnapshot,
  options: ResolvedTranslateOptions,
  exclude: ReadonlySet<string> = new Set(),
  memo: TranslationMemo = new TranslationMemo(),
): ApiTranslation {
  const functions = latestByKey(snapshot.functions, options.defaultOrg);
  const plans = new Map<string, { plan: EndpointPlan; revision: bigint }>();
  for (const endpoint of snapshot.endpoints) {
    const plan = memo.plan(endpoint, { options, functions, snapshot }, (ctx) => planEndpoint(endpoint, ctx));
    if (!plan) continue;
    const revision = endpoint.meta?.revision ?? 0n;
    // The store has one object per key; of duplicates, the later revision wins.
    const previous = plans.get(plan.key);
    if (previous && revision <= previous.revision) continue;
    plans.set(plan.key, { plan, revision });
  }

  const problems: EndpointProblem[] = [];
  const hostRoutes = new Map<string, RouteIR[]>();
  // The routes taken, by host and match: only routes with the same match can collide.
  const claims = new Map<string, RouteIR[]>();
  const accepted: EndpointPlan[] = [];
  const byAge = [...plans.values()]
    .map((p) => p.plan)
    .sort((a, b) => a.created - b.created || compareStrings(a.key, b.key));
  for (const plan of byAge) {
    problems.push(...plan.problems);
    if (!plan.served || exclude.has(plan.key)) continue;
    const routes = memo.routesOf(plan, routesOf);
    const conflict = findConflict(routes, claims);
    if (conflict) {
      problems.push({
        endpoint: plan.key,
        reason: "RouteConflict",
        message:
          `${describe(conflict.route)} on ${conflict.host === ANY_HOST ? "any host" : `host "${conflict.host}"`} ` +
          `is already served by endpoint "${conflict.owner}"; change a path, method or host`,
        served: false,
      });
      continue;
    }
    for (const { host, route } of routes) {
      const list = hostRoutes.get(host) ?? [];
      list.push(route);
      hostRoutes.set(host, list);
      const key = claimKey(host, route);
      const same = claims.get(key) ?? [];
      same.push(route);
      claims.set(key, same);
    }
    accepted.push(plan);
  }

  problems.sort((a, b) => compareStrings(a.endpoint, b.endpoint) || compareStrings(a.reason, b.reason));
  return {
    ir: {
      listener: {
        name: options.listenerName,
        host: options.listenerHost,
        port: options.listenerPort,
        routeConfigName: options.listenerName,
        useRemoteAddress: options.useRemoteAddress,
        xffNumTrustedHops: options.xffNumTrustedHops,
      },
      virtualHosts: virtualHosts(hostRoutes),
      clusters: functionClusters(accepted, functions, options),
      ...jwt(accepted),
      requestHeaders: platformRequestHeaders(options),
    },
    problems,
  };
}

/**
 * Headers a client may never send upstream: the worker's credential, secrets
 * and run id (runtimes/CONTRACT.md), and the activator's credential, which the
 * proxy sets itself when every call goes through the activator. The function
 * headers (`dispatch-org`, `dispatch-function`) are set on each route.
 */
function platformRequestHeaders(options: ResolvedTranslateOptions): IngressIR["requestHeaders"] {
  const reserved = [upstreamHeaders.runId, upstreamHeaders.secrets, upstreamHeaders.workerToken];
  if (options.activatorToken === undefined) {
    return { remove: sortedUnique([...reserved, upstreamHeaders.activatorToken]), set: [] };
  }
  return {
    remove: sortedUnique(reserved),
    set: [{ name: upstreamHeaders.activatorToken, value: options.activatorToken }],
  };
}

function latestByKey(
  functions: readonly FunctionResource[],
  defaultOrg: string,
): Map<string, FunctionResource> {
  const out = new Map<string, FunctionResource>();
  for (const fn of functions) {
    const key = `${fn.meta?.org || defaultOrg}/${fn.meta?.name ?? ""}`;
    const previous = out.get(key);
    if (!previous || (fn.meta?.revision ?? 0n) > (previous.meta?.revision ?? 0n)) out.set(key, fn);
  }
  return out;
}

/** An endpoint's routes: each host (or any host) × each distinct path. */
function routesOf(plan: EndpointPlan): HostRoute[] {
  const hosts = plan.hosts.length > 0 ? plan.hosts : [ANY_HOST];
  const out: HostRoute[] = [];
  const seen = new Set<string>();
  plan.paths.forEach((match, index) => {
    const id = `${match.kind}|${matchValue(match)}`;
    if (seen.has(id)) return;
    seen.add(id);
    for (const host of hosts) {
      const route: RouteIR = {
        name: `${plan.key}/${index}`,
        endpoint: plan.key,
        match,
        methods: plan.methods,
        httpsOnly: plan.httpsOnly,
        auth: plan.auth,
        action: plan.action,
      };
      if (plan.stripPrefix !== undefined) route.stripPrefix = plan.stripPrefix;
      if (plan.cors) route.cors = plan.cors;
      if (plan.rateLimit) route.rateLimit = plan.rateLimit;
      out.push({ host, route });
    }
  });
  return out;
}

/** Routes that can collide share this key: the host and the match (kind and value). */
function claimKey(host: string, route: RouteIR): string {
  return `${host}\n${route.match.kind}\n${matchValue(route.match)}`;
}

function findConflict(
  routes: readonly HostRoute[],
  claims: ReadonlyMap<string, RouteIR[]>,
): { host: string; route: RouteIR; owner: string } | undefined {
  for (const { host, route } of routes) {
    const clash = claims.get(claimKey(host, route))?.find((other) => routesCollide(other, route));
    if (clash) return { host, route, owner: clash.endpoint };
  }
  return undefined;
}

function describe(route: RouteIR): string {
  const methods = route.methods.length > 0 ? route.methods.join(",") : "every method";
  const m = route.match;
  const path =
    m.kind === "exact" ? `"${m.path}"` : m.kind === "prefix" ? `"${m.prefix}" and below` : `"~${m.regex}"`;
  return `${path} (${methods})`;
}

/**
 * One virtual host per host, plus the any-host one. A request is matched only
 * within the most specific virtual host for its Host, so every host also
 * carries the any-host routes, after its own at the same path.
 */
function virtualHosts(hostRoutes: ReadonlyMap<string, RouteIR[]>): VirtualHostIR[] {
  const shared = hostRoutes.get(ANY_HOST) ?? [];
  const out: VirtualHostIR[] = [];
  for (const host of sortedUnique(hostRoutes.keys())) {
    const own = host === ANY_HOST ? [] : (hostRoutes.get(host) ?? []);
    const routes = [
      ...own.map((route) => ({ route, anyHost: false })),
      ...shared.map((route) => ({ route, anyHost: true })),
    ]
      .sort(compareRoutes)
      .map((r) => r.route);
    out.push({ name: host, domains: [host], routes });
  }
  return out;
}

function functionClusters(
  accepted: EndpointPlan[],
  functions: ReadonlyMap<string, FunctionResource>,
  options: ResolvedTranslateOptions,
): FunctionClusterIR[] {
  const clusters = new Map<string, FunctionClusterIR>();
  for (const plan of accepted) {
    if (plan.action.kind !== "forward") continue;
    for (const backend of plan.action.backends) {
      let cluster = clusters.get(backend.cluster);
      if (!cluster) {
        const target = functionTarget(
          backend.org,
          backend.function,
          functions.get(`${backend.org}/${backend.function}`),
        );
        const direct = target.kind === "instances" && options.warmPath === "direct";
        cluster = {
          name: backend.cluster,
          org: backend.org,
          function: backend.function,
          endpoints: direct ? target.addresses : [options.activator],
          activator: !direct,
          connectTimeoutMs: options.connectTimeoutMs,
          usedBy: [],
        };
        clusters.set(backend.cluster, cluster);
      }
      cluster.usedBy.push(plan.key);
    }
  }
  return [...clusters.values()]
    .map((c) => ({ ...c, usedBy: sortedUnique(c.usedBy) }))
    .sort((a, b) => compareStrings(a.name, b.name));
}

function jwt(accepted: EndpointPlan[]): { jwtProviders: JwtProviderIR[]; jwksClusters: JwksClusterIR[] } {
  const providers: JwtProviderIR[] = [];
  const clusters = new Map<string, JwksClusterIR>();
  for (const plan of accepted) {
    if (!plan.jwt) continue;
    providers.push(plan.jwt.provider);
    // An inline key set needs no cluster to fetch it through.
    if (!plan.jwt.cluster) continue;
    const cluster = clusters.get(plan.jwt.cluster.name) ?? { ...plan.jwt.cluster, usedBy: [] };
    cluster.usedBy.push(plan.key);
    clusters.set(cluster.name, cluster);
  }
  return {
    jwtProviders: providers.sort((a, b) => compareStrings(a.name, b.name)),
    jwksClusters: [...clusters.values()]
      .map((c) => ({ ...c, usedBy: sortedUnique(c.usedBy) }))
      .sort((a, b) => compareStrings(a.name, b.name)),
  };
}
