import { type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  type Endpoint,
  type EndpointSpec,
  type Function as FunctionResource,
  isName,
  type Retries,
} from "@dispatch/proto";
import { checkPath } from "@dispatch/proto/endpoint-paths";
import type {
  ActionIR,
  AuthIR,
  BackendIR,
  CorsIR,
  JwksClusterIR,
  JwtProviderIR,
  PathMatchIR,
  RateLimitIR,
  RetriesIR,
} from "../ir/ir.js";
import {
  defaultRetryOn,
  durationToMs,
  endpointLimits,
  hostPattern,
  httpMethods,
  type Invalid,
  type Note,
  retryConditions,
} from "./endpoint-rules.js";
import { functionTarget } from "./function-target.js";
import type { ResolvedTranslateOptions } from "./options.js";
import { compareStrings, sortedUnique } from "./order.js";
import { planAuth } from "./plan-auth.js";
import { planCors } from "./plan-cors.js";
import type { EndpointProblem, IngressSnapshot, ProblemReason } from "./snapshot.js";

/** One endpoint, checked and normalized: everything its routes need. */
export interface EndpointPlan {
  /** `<org>/<name>`. */
  key: string;
  org: string;
  name: string;
  /** Creation time in ms: older endpoints win route conflicts. */
  created: number;
  /** Sorted; empty means every host. */
  hosts: string[];
  /** In `spec.paths` order (the index names the route). */
  paths: PathMatchIR[];
  stripPrefix?: string;
  methods: string[];
  httpsOnly: boolean;
  cors?: CorsIR;
  auth: AuthIR;
  rateLimit?: RateLimitIR;
  action: ActionIR;
  jwt?: { provider: JwtProviderIR; cluster?: Omit<JwksClusterIR, "usedBy"> };
  problems: EndpointProblem[];
  /** False when a problem keeps every route of the endpoint out. */
  served: boolean;
}

/** What planning reads besides the endpoint. */
export interface PlanContext {
  options: ResolvedTranslateOptions;
  functions: Pick<ReadonlyMap<string, FunctionResource>, "get">;
  snapshot: Pick<IngressSnapshot, "tokens">;
}

/**
 * Checks one endpoint and resolves what it names (functions, token secret),
 * collecting every problem. An invalid field leaves the whole endpoint out
 * (`served: false`); a function that cannot serve leaves it in, answering 503.
 */
export function planEndpoint(endpoint: Endpoint, ctx: PlanContext): EndpointPlan | undefined {
  const org = endpoint.meta?.org || ctx.options.defaultOrg;
  const name = endpoint.meta?.name ?? "";
  // Without a valid key there is nothing to report a status to.
  if (!isName(org) || !isName(name)) return undefined;
  const key = `${org}/${name}`;
  const problems: EndpointProblem[] = [];
  const invalid = (field: string, message: string) =>
    problems.push({ endpoint: key, reason: "InvalidSpec", message: `${field}: ${message}`, served: false });
  const note = (reason: ProblemReason, message: string) =>
    problems.push({ endpoint: key, reason, message, served: true });

  const spec = endpoint.spec;
  const plan: EndpointPlan = {
    key,
    org,
    name,
    created: createdMs(endpoint.meta?.created),
    hosts: [],
    paths: [],
    methods: [],
    httpsOnly: spec?.httpsOnly ?? false,
    auth: { kind: "public" },
    action: { kind: "direct", status: 503, message: `endpoint "${name}" has no function` },
    problems,
    served: false,
  };
  if (!spec) {
    invalid("spec", "is required");
    return plan;
  }

  // Hosts first: they decide whether paths live under /<org>.
  if (spec.hosts.length > endpointLimits.hosts)
    invalid("spec.hosts", `at most ${endpointLimits.hosts} hosts`);
  spec.hosts.slice(0, endpointLimits.hosts).forEach((host, i) => {
    if (host.length > 253 || !hostPattern.test(host)) {
      invalid(`spec.hosts[${i}]`, `"${host}" is not a lowercase host name (optionally "*.example.com")`);
    }
  });
  plan.hosts = sortedUnique(spec.hosts.slice(0, endpointLimits.hosts));
  const orgPrefix = plan.hosts.length === 0 && org !== ctx.options.defaultOrg ? `/${org}` : undefined;
  if (orgPrefix) plan.stripPrefix = orgPrefix;

  if (spec.paths.length === 0) invalid("spec.paths", 'needs at least one path (e.g. "/hello")');
  if (spec.paths.length > endpointLimits.paths)
    invalid("spec.paths", `at most ${endpointLimits.paths} paths`);
  spec.paths.slice(0, endpointLimits.paths).forEach((path, i) => {
    const parsed = checkPath(path, orgPrefix);
    if (parsed.ok) plan.paths.push(parsed.match);
    else invalid(`spec.paths[${i}]`, parsed.message);
  });

  spec.methods.forEach((method, i) => {
    if (!httpMethods.has(method)) {
      invalid(`spec.methods[${i}]`, `"${method.slice(0, 32)}" is not an HTTP method (e.g. GET, POST)`);
    }
  });
  plan.methods = sortedUnique(spec.methods.filter((m) => httpMethods.has(m)));

  if (spec.cors) plan.cors = planCors(spec.cors, plan.methods, invalid);
  const auth = planAuth(plan, spec.auth, ctx, invalid, note);
  plan.auth = auth.auth;
  if (auth.jwt) plan.jwt = auth.jwt;
  if (spec.rateLimit) {
    const { requests } = spec.rateLimit;
    const perMs = spec.rateLimit.per ? durationToMs(spec.rateLimit.per) : 1000;
    if (requests === 0 || requests > endpointLimits.rateLimitRequests) {
      invalid("spec.rate_limit.requests", `must be 1 to ${endpointLimits.rateLimitRequests}`);
    } else if (perMs === undefined || perMs <= 0 || perMs > endpointLimits.rateLimitPerMs) {
      invalid("spec.rate_limit.per", "must be a duration above 0 and at most 24h");
    } else {
      plan.rateLimit = { requests, perMs };
    }
  }

  const forwardTimeoutMs = spec.timeout ? durationToMs(spec.timeout) : undefined;
  if (spec.timeout && (forwardTimeoutMs === undefined || forwardTimeoutMs <= 0)) {
    invalid("spec.timeout", "must be a duration above 0");
  } else if (forwardTimeoutMs !== undefined && forwardTimeoutMs > endpointLimits.timeoutMs) {
    invalid("spec.timeout", "must be at most 15m");
  }
  const retries = spec.retries ? planRetries(spec.retries, invalid) : undefined;
  plan.action = planAction(plan, spec, ctx, forwardTimeoutMs, retries, invalid, note);

  plan.served = !problems.some((p) => !p.served);
  return plan;
}

function planRetries(retries: Retries, invalid: Invalid): RetriesIR | undefined {
  if (retries.attempts > endpointLimits.retries) {
    invalid("spec.retries.attempts", `must be at most ${endpointLimits.retries}`);
    return undefined;
  }
  retries.retryOn.forEach((condition, i) => {
    if (!retryConditions.has(condition)) {
      invalid(
        `spec.retries.retry_on[${i}]`,
        `"${condition.slice(0, 64)}" is not a retry condition (e.g. ${defaultRetryOn.join(", ")})`,
      );
    }
  });
  if (retries.attempts === 0) return undefined;
  const ir: RetriesIR = {
    attempts: retries.attempts,
    retryOn: retries.retryOn.length > 0 ? sortedUnique(retries.retryOn) : [...defaultRetryOn],
  };
  if (retries.perTryTimeout) {
    const ms = durationToMs(retries.perTryTimeout);
    if (ms === undefined || ms <= 0 || ms > endpointLimits.timeoutMs) {
      invalid("spec.retries.per_try_timeout", "must be a duration above 0 and at most 15m");
    } else {
      ir.perTryTimeoutMs = ms;
    }
  }
  return ir;
}

function planAction(
  plan: EndpointPlan,
  spec: EndpointSpec,
  ctx: PlanContext,
  timeoutMs: number | undefined,
  retries: RetriesIR | undefined,
  invalid: Invalid,
  note: Note,
): ActionIR {
  const wanted = new Map<string, number>();
  if (spec.function !== "" && spec.backends.length > 0) {
    invalid("spec.backends", "cannot be combined with spec.function; use one or the other");
  } else if (spec.function !== "") {
    if (isName(spec.function)) wanted.set(spec.function, 1);
    else invalid("spec.function", `"${spec.function.slice(0, 64)}" is not a function name`);
  } else if (spec.backends.length === 0) {
    invalid("spec.function", "is required (or give spec.backends for a weighted split)");
  } else if (spec.backends.length > endpointLimits.backends) {
    invalid("spec.backends", `at most ${endpointLimits.backends} backends`);
  } else {
    spec.backends.forEach((backend, i) => {
      if (!isName(backend.function)) {
        invalid(`spec.backends[${i}].function`, `"${backend.function.slice(0, 64)}" is not a function name`);
      } else if (backend.weight > endpointLimits.weight) {
        invalid(`spec.backends[${i}].weight`, `must be at most ${endpointLimits.weight}`);
      } else {
        wanted.set(backend.function, (wanted.get(backend.function) ?? 0) + backend.weight);
      }
    });
    if (wanted.size > 0 && [...wanted.values()].every((w) => w === 0)) {
      invalid("spec.backends", "weights must add up to more than 0");
    }
  }

  const backends: BackendIR[] = [];
  const unavailable: { reason: ProblemReason; message: string }[] = [];
  let longestFunctionTimeout = 0;
  for (const [fn, weight] of [...wanted].sort(([a], [b]) => compareStrings(a, b))) {
    // A zero-weight backend takes no traffic; it needs no cluster.
    if (weight === 0) continue;
    const found = ctx.functions.get(`${plan.org}/${fn}`);
    const target = functionTarget(plan.org, fn, found);
    if (target.kind === "unavailable") {
      unavailable.push({ reason: target.reason, message: target.message });
      continue;
    }
    if (target.ignored.length > 0) {
      note(
        "FunctionNotReady",
        `function "${fn}" reports instance addresses that are not http://IP:PORT (ignored): ${target.ignored
          .slice(0, 3)
          .map((a) => JSON.stringify(a.slice(0, 64)))
          .join(", ")}`,
      );
    }
    const fnTimeout = found?.spec?.timeout ? durationToMs(found.spec.timeout) : undefined;
    longestFunctionTimeout = Math.max(
      longestFunctionTimeout,
      fnTimeout !== undefined && fnTimeout > 0
        ? Math.min(fnTimeout, endpointLimits.timeoutMs)
        : ctx.options.defaultTimeoutMs,
    );
    backends.push({ cluster: functionClusterName(plan.org, fn), weight, org: plan.org, function: fn });
  }
  // With other backends ready, an unready one's share goes to them; with none, calls get a 503.
  for (const { reason, message } of unavailable) {
    note(
      reason,
      backends.length > 0
        ? `${message}; its share of calls goes to the other backends until it is ready`
        : `${message}; calls get a 503 until it is ready`,
    );
  }
  if (backends.length === 0) {
    return {
      kind: "direct",
      status: 503,
      message:
        unavailable.length > 0
          ? unavailable.map((u) => u.message).join("; ")
          : `endpoint "${plan.name}" has no function`,
    };
  }
  const forward: ActionIR = {
    kind: "forward",
    backends,
    timeoutMs: timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : longestFunctionTimeout,
  };
  if (retries) forward.retries = retries;
  return forward;
}

/** The cluster (and ClusterLoadAssignment) name of a function. */
export function functionClusterName(org: string, fn: string): string {
  return `function/${org}/${fn}`;
}

function createdMs(created: Timestamp | undefined): number {
  if (!created || created.seconds < 0n || created.nanos < 0 || created.nanos >= 1_000_000_000) return 0;
  return timestampMs(created);
}
