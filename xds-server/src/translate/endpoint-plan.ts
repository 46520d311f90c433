import { isIP } from "node:net";
import { type Duration, durationMs, type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  type Cors,
  type Endpoint,
  type EndpointAuth,
  type EndpointSpec,
  type Function as FunctionResource,
  isName,
  type Retries,
} from "@dispatch/proto";
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
import { functionTarget } from "./function-target.js";
import type { ResolvedTranslateOptions } from "./options.js";
import { compareStrings, sortedUnique } from "./order.js";
import { parsePath } from "./paths.js";
import type { EndpointProblem, IngressSnapshot, ProblemReason } from "./snapshot.js";

/** Limits on what one endpoint may ask for: hostile input stays small. */
export const endpointLimits = {
  paths: 64,
  hosts: 64,
  backends: 16,
  weight: 1_000_000,
  audiences: 32,
  origins: 64,
  headers: 64,
  headerLength: 256,
  tokens: 64,
  tokenLength: 4096,
  issuerLength: 1024,
  urlLength: 2048,
  retries: 10,
  rateLimitRequests: 1_000_000,
  timeoutMs: 15 * 60 * 1000,
  rateLimitPerMs: 24 * 60 * 60 * 1000,
} as const;

/** HTTP methods an endpoint may name. */
export const httpMethods: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);

/** Envoy's `retry_on` conditions for HTTP routes (router filter, x-envoy-retry-on and x-envoy-retry-grpc-on). */
export const retryConditions: ReadonlySet<string> = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

/** What `--retries N` retries on when the endpoint names no condition. */
export const defaultRetryOn = ["5xx", "connect-failure", "refused-stream", "reset"];

/** Request headers a browser may send cross-origin when the endpoint names none. */
export const defaultCorsHeaders = ["authorization", "content-type"];

const hostPattern = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const printable = /^[\x20-\x7e]+$/;
const bearerToken = /^[\x21-\x7e]+$/;

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
  jwt?: { provider: JwtProviderIR; cluster: Omit<JwksClusterIR, "usedBy"> };
  problems: EndpointProblem[];
  /** False when a problem keeps every route of the endpoint out. */
  served: boolean;
}

/** What planning reads besides the endpoint. */
export interface PlanContext {
  options: ResolvedTranslateOptions;
  functions: ReadonlyMap<string, FunctionResource>;
  snapshot: IngressSnapshot;
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
    const parsed = parsePath(path, orgPrefix);
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
  planAuth(plan, spec.auth, ctx, invalid, note);
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

type Invalid = (field: string, message: string) => void;
type Note = (reason: ProblemReason, message: string) => void;

function planCors(cors: Cors, methods: string[], invalid: Invalid): CorsIR {
  if (cors.allowOrigins.length > endpointLimits.origins) {
    invalid("spec.cors.allow_origins", `at most ${endpointLimits.origins} origins`);
  }
  const origins: string[] = [];
  cors.allowOrigins.slice(0, endpointLimits.origins).forEach((origin, i) => {
    const normal = normalOrigin(origin);
    if (normal) origins.push(normal);
    else
      invalid(
        `spec.cors.allow_origins[${i}]`,
        `"${origin.slice(0, 256)}" is not "*" or an origin like "https://app.example.com"`,
      );
  });
  const headerList = (field: string, values: string[]): string[] => {
    if (values.length > endpointLimits.headers) invalid(field, `at most ${endpointLimits.headers} headers`);
    values.slice(0, endpointLimits.headers).forEach((h, i) => {
      if (h.length > endpointLimits.headerLength || !headerToken.test(h)) {
        invalid(`${field}[${i}]`, `"${h.slice(0, 64)}" is not a header name`);
      }
    });
    return sortedUnique(values.slice(0, endpointLimits.headers).map((h) => h.toLowerCase()));
  };
  cors.allowMethods.forEach((m, i) => {
    if (!httpMethods.has(m))
      invalid(`spec.cors.allow_methods[${i}]`, `"${m.slice(0, 32)}" is not an HTTP method`);
  });
  const allowMethods = sortedUnique(cors.allowMethods.filter((m) => httpMethods.has(m)));
  const ir: CorsIR = {
    allowOrigins: origins.length === 0 ? ["*"] : sortedUnique(origins),
    allowMethods:
      allowMethods.length > 0
        ? allowMethods
        : methods.length > 0
          ? methods
          : [...httpMethods].sort(compareStrings),
    allowHeaders:
      cors.allowHeaders.length > 0
        ? headerList("spec.cors.allow_headers", cors.allowHeaders)
        : [...defaultCorsHeaders],
    exposeHeaders: headerList("spec.cors.expose_headers", cors.exposeHeaders),
    allowCredentials: cors.allowCredentials,
  };
  if (cors.maxAge) {
    const ms = durationToMs(cors.maxAge);
    if (ms === undefined || ms < 0 || ms > 86_400_000)
      invalid("spec.cors.max_age", "must be between 0s and 24h");
    else ir.maxAgeSeconds = Math.floor(ms / 1000);
  }
  return ir;
}

function normalOrigin(origin: string): string | undefined {
  if (origin === "*") return origin;
  if (origin.length > endpointLimits.urlLength) return undefined;
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    // An origin is scheme://host[:port] and nothing else.
    return url.origin === origin.toLowerCase() ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

function planAuth(
  plan: EndpointPlan,
  auth: EndpointAuth | undefined,
  ctx: PlanContext,
  invalid: Invalid,
  note: Note,
): void {
  const mode = auth?.mode;
  if (!mode || mode.case === undefined || mode.case === "public") {
    plan.auth = { kind: "public" };
    return;
  }
  if (mode.case === "token") {
    const secret = mode.value.secret;
    plan.auth = { kind: "token", tokens: [] };
    if (!isName(secret)) {
      invalid("spec.auth.token.secret", `"${secret.slice(0, 64)}" is not a secret name`);
      return;
    }
    const values = ctx.snapshot.tokens(plan.org, secret);
    if (values === undefined) {
      note(
        "TokenSecretProblem",
        `secret "${secret}" does not exist in org "${plan.org}": every call is refused`,
      );
      return;
    }
    const usable = values.filter((t) => t.length <= endpointLimits.tokenLength && bearerToken.test(t));
    if (usable.length < values.length) {
      note(
        "TokenSecretProblem",
        `secret "${secret}" holds ${values.length - usable.length} value(s) that cannot be a bearer token ` +
          `(visible ASCII without spaces, at most ${endpointLimits.tokenLength} characters); they are not accepted`,
      );
    }
    if (usable.length > endpointLimits.tokens) {
      note(
        "TokenSecretProblem",
        `secret "${secret}" holds more than ${endpointLimits.tokens} tokens; only the first are accepted`,
      );
    }
    plan.auth.tokens = sortedUnique(usable.slice(0, endpointLimits.tokens));
    if (values.length === 0)
      note("TokenSecretProblem", `secret "${secret}" holds no token: every call is refused`);
    return;
  }
  const jwt = mode.value;
  const provider = plan.key;
  plan.auth = { kind: "jwt", provider };
  let ok = true;
  if (jwt.issuer === "" || jwt.issuer.length > endpointLimits.issuerLength || !printable.test(jwt.issuer)) {
    invalid(
      "spec.auth.jwt.issuer",
      "is required: the token issuer (`iss`), printable, at most 1024 characters",
    );
    ok = false;
  }
  if (jwt.audiences.length > endpointLimits.audiences) {
    invalid("spec.auth.jwt.audiences", `at most ${endpointLimits.audiences} audiences`);
    ok = false;
  }
  jwt.audiences.forEach((a, i) => {
    if (a === "" || a.length > 256 || !printable.test(a)) {
      invalid(`spec.auth.jwt.audiences[${i}]`, "must be printable, 1 to 256 characters");
      ok = false;
    }
  });
  const jwks = parseJwksUri(jwt.jwksUri);
  if (!jwks) {
    invalid(
      "spec.auth.jwt.jwks_uri",
      `"${jwt.jwksUri.slice(0, 256)}" is not an http(s) URL of a JWKS document`,
    );
    ok = false;
  }
  if (!ok || !jwks) return;
  const cluster = {
    name: `jwks/${jwks.tls ? "https" : "http"}/${jwks.host}:${jwks.port}`,
    host: jwks.host,
    port: jwks.port,
    tls: jwks.tls,
    connectTimeoutMs: ctx.options.connectTimeoutMs,
  };
  plan.jwt = {
    provider: {
      name: provider,
      endpoint: plan.key,
      issuer: jwt.issuer,
      audiences: sortedUnique(jwt.audiences),
      jwksUri: jwks.uri,
      jwksCluster: cluster.name,
      jwksCacheMs: ctx.options.jwksCacheMs,
      jwksFetchTimeoutMs: ctx.options.jwksFetchTimeoutMs,
    },
    cluster,
  };
}

function parseJwksUri(raw: string): { uri: string; host: string; port: number; tls: boolean } | undefined {
  if (raw.length === 0 || raw.length > endpointLimits.urlLength) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username !== "" || url.password !== "") {
    return undefined;
  }
  const tls = url.protocol === "https:";
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (host === "" || (isIP(host) === 0 && !hostPattern.test(host))) return undefined;
  return { uri: url.href, host, port: url.port === "" ? (tls ? 443 : 80) : Number(url.port), tls };
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

/** A protobuf Duration in ms; undefined when it is not a valid duration (negative, mixed signs, out of range). */
export function durationToMs(duration: Duration): number | undefined {
  const { seconds, nanos } = duration;
  if (seconds < 0n || nanos < 0 || nanos >= 1_000_000_000 || seconds > 315_576_000_000n) return undefined;
  return Math.floor(durationMs(duration));
}

function createdMs(created: Timestamp | undefined): number {
  if (!created || created.seconds < 0n || created.nanos < 0 || created.nanos >= 1_000_000_000) return 0;
  return timestampMs(created);
}
