import { type Endpoint, EndpointSchema, orgPrefixOf, Phase } from "@dispatch/proto";
import { checkPath as checkServedPath } from "@dispatch/proto/endpoint-paths";
import { checkName, type Violations } from "../validation/violations.js";
import { checkDuration } from "./function.js";
import { binaryCodec, type Kind } from "./kind.js";
import { hostName, httpMethods } from "./names.js";

/**
 * Bounds on one endpoint: each path, host and backend becomes Envoy config on
 * every proxy, so a tenant's endpoint must not be able to grow it without end.
 */
export const endpointLimits = {
  paths: 32,
  hosts: 32,
  backends: 16,
  corsEntries: 64,
  audiences: 16,
  /** An inline JSON Web Key Set. */
  jwksBytes: 64 * 1024,
  /** Total of the weighted split; Envoy wants a sum it can represent. */
  totalWeight: 1_000_000,
  retries: 10,
  /** Requests per rate-limit period. */
  rateLimitRequests: 1_000_000_000,
} as const;

/** Endpoints (alias API): HTTP routes to functions on the gateway. */
export const endpointKind: Kind<Endpoint> = {
  name: "Endpoint",
  label: "endpoint",
  bucket: "endpoints",
  schema: EndpointSchema,
  global: false,
  initialPhase: () => Phase.INITIALIZED,
  codec: binaryCodec(EndpointSchema),
  prepare(endpoint) {
    // Methods are case-insensitive to users and upper case to HTTP; hosts are case-insensitive.
    if (!endpoint.spec) return;
    endpoint.spec.methods = endpoint.spec.methods.map((m) => m.toUpperCase());
    endpoint.spec.hosts = endpoint.spec.hosts.map((h) => h.toLowerCase());
  },
  validate(endpoint, v, at) {
    const spec = endpoint.spec;
    if (!spec) {
      v.add("spec", "is required");
      return;
    }
    checkBackends(spec, v);
    if (spec.paths.length === 0) v.add("spec.paths", 'needs at least one path (e.g. "/hello")');
    checkCount(v, "spec.paths", spec.paths.length, endpointLimits.paths);
    checkCount(v, "spec.hosts", spec.hosts.length, endpointLimits.hosts);
    for (const [i, path] of spec.paths.slice(0, endpointLimits.paths).entries()) {
      checkPath(v, `spec.paths[${i}]`, path, at.org, spec.hosts.length > 0);
    }
    checkUnique(v, "spec.paths", spec.paths);
    spec.methods.forEach((m, i) => {
      if (!httpMethods.has(m)) v.add(`spec.methods[${i}]`, `"${m}" is not an HTTP method (e.g. GET, POST)`);
    });
    checkUnique(v, "spec.methods", spec.methods);
    spec.hosts.slice(0, endpointLimits.hosts).forEach((h, i) => {
      if (h.length > 253 || !hostName.test(h)) {
        v.add(`spec.hosts[${i}]`, `"${h}" is not a valid host name (e.g. api.example.com or *.example.com)`);
      }
    });
    checkUnique(v, "spec.hosts", spec.hosts);
    checkDuration(v, "spec.timeout", spec.timeout, 15 * 60 * 1000);
    checkAuth(spec, v);
    checkCors(spec, v);
    if (spec.retries) {
      if (spec.retries.attempts > endpointLimits.retries) {
        v.add("spec.retries.attempts", `is ${spec.retries.attempts}; the limit is ${endpointLimits.retries}`);
      }
      checkDuration(v, "spec.retries.per_try_timeout", spec.retries.perTryTimeout, 15 * 60 * 1000);
      spec.retries.retryOn.forEach((r, i) => {
        if (!retryOn.has(r)) {
          v.add(`spec.retries.retry_on[${i}]`, `"${r}" is not one of ${[...retryOn].join(", ")}`);
        }
      });
    }
    if (spec.rateLimit) {
      const { requests, per } = spec.rateLimit;
      if (requests === 0) v.add("spec.rate_limit.requests", "must be more than 0 (or leave out rate_limit)");
      if (requests > endpointLimits.rateLimitRequests) {
        v.add("spec.rate_limit.requests", `is ${requests}; the limit is ${endpointLimits.rateLimitRequests}`);
      }
      if (!per) v.add("spec.rate_limit.per", 'is required with requests (e.g. "1s" or "1m")');
      else checkDuration(v, "spec.rate_limit.per", per, 24 * 3600 * 1000);
    }
  },
};

/** What Envoy's retry_on takes that makes sense for a function. */
const retryOn = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "connect-failure",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
]);

function checkBackends(spec: NonNullable<Endpoint["spec"]>, v: Violations): void {
  if (spec.function === "" && spec.backends.length === 0) {
    v.add("spec.function", "is required (or give spec.backends for a weighted split)");
  } else if (spec.function !== "" && spec.backends.length > 0) {
    v.add("spec.backends", "cannot be combined with spec.function; use one or the other");
  }
  if (spec.function !== "") checkName(v, "spec.function", spec.function);
  checkCount(v, "spec.backends", spec.backends.length, endpointLimits.backends);
  let weight = 0;
  spec.backends.forEach((b, i) => {
    checkName(v, `spec.backends[${i}].function`, b.function);
    weight += b.weight;
  });
  checkUnique(
    v,
    "spec.backends",
    spec.backends.map((b) => b.function),
  );
  if (spec.backends.length > 0 && weight === 0) {
    v.add("spec.backends", "weights must add up to more than 0 (e.g. hello=90 and hello-next=10)");
  }
  if (weight > endpointLimits.totalWeight) {
    v.add("spec.backends", `weights add up to ${weight}; the limit is ${endpointLimits.totalWeight}`);
  }
}

function checkPath(v: Violations, field: string, path: string, org: string, hasHosts: boolean): void {
  const checked = checkServedPath(path, orgPrefixOf(org, hasHosts));
  if (!checked.ok) v.add(field, checked.message);
}

function checkAuth(spec: NonNullable<Endpoint["spec"]>, v: Violations): void {
  const auth = spec.auth?.mode;
  if (auth?.case === "jwt") {
    const jwt = auth.value;
    if (jwt.issuer === "") v.add("spec.auth.jwt.issuer", "is required (the tokens' iss claim)");
    if (jwt.jwks !== "" && jwt.jwksUri !== "") {
      v.add("spec.auth.jwt.jwks", "cannot be combined with jwks_uri; give one or the other");
    } else if (jwt.jwks !== "") {
      checkJwks(v, "spec.auth.jwt.jwks", jwt.jwks);
    } else if (!isHttpUrl(jwt.jwksUri)) {
      v.add(
        "spec.auth.jwt.jwks_uri",
        `"${jwt.jwksUri}" must be an http(s) URL of the issuer's JSON Web Key Set (or give the set in jwks)`,
      );
    }
    checkCount(v, "spec.auth.jwt.audiences", jwt.audiences.length, endpointLimits.audiences);
  } else if (auth?.case === "token") {
    checkName(v, "spec.auth.token.secret", auth.value.secret);
  }
}

function checkCors(spec: NonNullable<Endpoint["spec"]>, v: Violations): void {
  const cors = spec.cors;
  if (!cors) return;
  const lists = {
    allow_origins: cors.allowOrigins,
    allow_methods: cors.allowMethods,
    allow_headers: cors.allowHeaders,
    expose_headers: cors.exposeHeaders,
  };
  for (const [name, list] of Object.entries(lists)) {
    checkCount(v, `spec.cors.${name}`, list.length, endpointLimits.corsEntries);
  }
  cors.allowOrigins.forEach((origin, i) => {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      v.add(
        `spec.cors.allow_origins[${i}]`,
        `"${origin}" is not an origin: "*" or scheme://host[:port], no path`,
      );
    }
  });
  cors.allowMethods.forEach((m, i) => {
    if (!httpMethods.has(m.toUpperCase()))
      v.add(`spec.cors.allow_methods[${i}]`, `"${m}" is not an HTTP method`);
  });
  for (const [name, list] of [
    ["allow_headers", cors.allowHeaders],
    ["expose_headers", cors.exposeHeaders],
  ] as const) {
    list.forEach((h, i) => {
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h))
        v.add(`spec.cors.${name}[${i}]`, `"${h}" is not a header name`);
    });
  }
  if (cors.allowCredentials && cors.allowOrigins.includes("*")) {
    v.add(
      "spec.cors.allow_credentials",
      'cannot be combined with the origin "*" (browsers refuse it); name the origins',
    );
  }
  checkDuration(v, "spec.cors.max_age", cors.maxAge, 24 * 3600 * 1000);
}

/** A JSON Web Key Set: a JSON object whose "keys" are objects with a "kty"; bounded. */
function checkJwks(v: Violations, field: string, text: string): void {
  if (text.length > endpointLimits.jwksBytes) {
    v.add(field, `is ${text.length} bytes; the limit is ${endpointLimits.jwksBytes}`);
    return;
  }
  let set: unknown;
  try {
    set = JSON.parse(text);
  } catch (err) {
    v.add(field, `is not JSON: ${(err as Error).message}`);
    return;
  }
  const keys = (set as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    v.add(field, 'must be a JSON Web Key Set: an object with a non-empty "keys" array');
    return;
  }
  for (const [i, key] of keys.entries()) {
    if (typeof key !== "object" || key === null || typeof (key as { kty?: unknown }).kty !== "string") {
      v.add(`${field}.keys[${i}]`, 'is not a JSON Web Key (an object with "kty")');
    }
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
  } catch {
    return false;
  }
}

function checkCount(v: Violations, field: string, count: number, limit: number): void {
  if (count > limit) v.add(field, `has ${count} entries; the limit is ${limit}`);
}

function checkUnique(v: Violations, field: string, values: string[]): void {
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) v.add(field, `names "${value}" twice`);
    seen.add(value);
  }
}
