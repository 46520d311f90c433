import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import type { RequestView } from "../route-table/request.js";
import type { JwksCache } from "./jwks-cache.js";
import { JwksUnavailableError } from "./jwks-cache.js";
import type { JwtConfig, JwtPerRoute, JwtProviderConfig, Requirement, TokenLocation } from "./jwt-config.js";
import { isCorsPreflight } from "./preflight.js";

/** A failed check: Envoy's status and message (401, or 403 for audiences). */
export interface JwtFailure {
  readonly status: 401 | 403;
  readonly message: string;
  /** Whether it failed because no token was there (the `www-authenticate` header then carries no error). */
  readonly missing: boolean;
}

/** What passing the JWT filter does to the request. */
export interface JwtSuccess {
  /** Headers to remove (the token, when the provider does not forward it). */
  readonly removeHeaders: readonly string[];
  /** Headers to set (forward_payload_header, claim_to_headers). */
  readonly setHeaders: readonly (readonly [string, string])[];
}

/** What the JWT filter decided. */
export type JwtOutcome =
  | { readonly ok: true; readonly effects: JwtSuccess }
  | { readonly ok: false; readonly failure: JwtFailure };

/** What verifying needs: the keys of a provider, and the clock. */
export interface JwtVerifyContext {
  readonly jwks: JwksCache;
  readonly now: () => number;
}

const noEffects: JwtSuccess = { removeHeaders: [], setHeaders: [] };
const passed: JwtOutcome = { ok: true, effects: noEffects };

/**
 * The requirement a request must meet: the route's `PerRouteConfig` (most
 * specific level) if any, else the first rule whose match accepts the request,
 * else none. A route naming a requirement the filter lacks fails closed.
 */
export function requirementFor(
  config: JwtConfig,
  perRoute: JwtPerRoute | undefined,
  request: RequestView,
  random: number,
): Requirement | undefined | "unknown-requirement" {
  if (perRoute?.kind === "disabled") return undefined;
  if (perRoute?.kind === "requirement")
    return config.requirementMap.get(perRoute.name) ?? "unknown-requirement";
  for (const rule of config.rules) if (rule.match.matches(request, random)) return rule.requirement;
  return undefined;
}

/**
 * Envoy's jwt_authn filter for one request: CORS preflights pass when
 * `bypass_cors_preflight`; otherwise the requirement is checked with jose
 * (signature against the provider's JWKS, `iss`, `aud`, `exp`/`nbf` with the
 * clock skew, `sub`, the lifetime bound).
 */
export async function checkJwt(
  config: JwtConfig,
  perRoute: JwtPerRoute | undefined,
  request: RequestView,
  random: number,
  context: JwtVerifyContext,
): Promise<JwtOutcome> {
  if (config.bypassCorsPreflight && isCorsPreflight(request)) return passed;
  const requirement = requirementFor(config, perRoute, request, random);
  if (requirement === undefined) return passed;
  if (requirement === "unknown-requirement") {
    return {
      ok: false,
      failure: { status: 403, message: "Wrong requirement_name is configured", missing: false },
    };
  }
  return evaluate(requirement, config, request, context);
}

type Result = { ok: true; effects: JwtSuccess } | { ok: false; failure: JwtFailure };

async function evaluate(
  requirement: Requirement,
  config: JwtConfig,
  request: RequestView,
  context: JwtVerifyContext,
): Promise<Result> {
  switch (requirement.kind) {
    case "provider": {
      const provider = config.providers.get(requirement.provider);
      if (!provider)
        return {
          ok: false,
          failure: { status: 401, message: "Jwt issuer is not configured", missing: false },
        };
      return verifyWith(provider, requirement.audiences ?? provider.audiences, request, context);
    }
    case "all": {
      const effects: JwtSuccess[] = [];
      for (const child of requirement.of) {
        const result = await evaluate(child, config, request, context);
        if (!result.ok) return result;
        effects.push(result.effects);
      }
      return { ok: true, effects: merge(effects) };
    }
    case "any": {
      let failure: JwtFailure | undefined;
      let missing: JwtFailure | undefined;
      const tolerateMissing = requirement.of.some((r) => r.kind === "allow-missing");
      const tolerateAll = requirement.of.some((r) => r.kind === "allow-missing-or-failed");
      for (const child of requirement.of) {
        if (child.kind === "allow-missing" || child.kind === "allow-missing-or-failed") continue;
        const result = await evaluate(child, config, request, context);
        if (result.ok) return result;
        if (result.failure.missing) missing ??= result.failure;
        else failure ??= result.failure;
      }
      if (tolerateAll) return passed;
      if (!failure && tolerateMissing) return passed;
      return {
        ok: false,
        failure: failure ?? missing ?? { status: 401, message: "Jwt is missing", missing: true },
      };
    }
    case "allow-missing":
    case "allow-missing-or-failed": {
      // Any provider whose token is present must accept it (allow-missing); failures pass too (or-failed).
      const results: Result[] = [];
      for (const provider of config.providers.values()) {
        if (!findToken(provider, request)) continue;
        results.push(await verifyWith(provider, provider.audiences, request, context));
      }
      const ok = results.find((r) => r.ok);
      if (ok) return ok;
      if (requirement.kind === "allow-missing-or-failed" || results.length === 0) return passed;
      return results[0] as Result;
    }
  }
}

async function verifyWith(
  provider: JwtProviderConfig,
  audiences: readonly string[],
  request: RequestView,
  context: JwtVerifyContext,
): Promise<Result> {
  const found = findToken(provider, request);
  if (!found) return { ok: false, failure: { status: 401, message: "Jwt is missing", missing: true } };
  const { token, location } = found;
  const fail = (message: string, status: 401 | 403 = 401): Result => ({
    ok: false,
    failure: { status, message, missing: false },
  });
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
    decodeProtectedHeader(token);
  } catch {
    return fail("Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections");
  }
  if (provider.issuer !== undefined && payload.iss !== provider.issuer)
    return fail("Jwt issuer is not configured");

  let keys: JWTVerifyGetKey;
  try {
    keys = provider.jwks.kind === "local" ? localKeys(provider) : await context.jwks.keys(provider.jwks);
  } catch (error) {
    if (error instanceof JwksUnavailableError) return fail(error.message);
    throw error;
  }
  const options = {
    ...(provider.issuer !== undefined ? { issuer: provider.issuer } : {}),
    ...(audiences.length > 0 ? { audience: [...audiences] } : {}),
    clockTolerance: provider.clockSkewSeconds,
    currentDate: new Date(context.now()),
    ...(provider.requireExpiration ? { requiredClaims: ["exp"] } : {}),
  };
  let verified: JWTPayload;
  try {
    verified = (await jwtVerify(token, keys, options)).payload;
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey && provider.jwks.kind === "remote") {
      const refreshed = await context.jwks.refresh(provider.jwks).catch(() => undefined);
      if (refreshed) {
        try {
          verified = (await jwtVerify(token, refreshed, options)).payload;
          return succeed(provider, token, location, verified);
        } catch (again) {
          return fail(...failureOf(again));
        }
      }
    }
    return fail(...failureOf(error));
  }
  if (provider.subjects && (typeof verified.sub !== "string" || !provider.subjects(verified.sub))) {
    return fail("Jwt subject is not allowed");
  }
  if (provider.maxLifetimeSeconds !== undefined) {
    const start = typeof verified.iat === "number" ? verified.iat : Math.floor(context.now() / 1000);
    if (typeof verified.exp !== "number" || verified.exp - start > provider.maxLifetimeSeconds) {
      return fail("Jwt lifetime is longer than allowed");
    }
  }
  return succeed(provider, token, location, verified);
}

function succeed(
  provider: JwtProviderConfig,
  token: string,
  location: TokenLocation,
  payload: JWTPayload,
): Result {
  const removeHeaders: string[] = [];
  const setHeaders: [string, string][] = [];
  if (!provider.forward && location.kind === "header") removeHeaders.push(location.name);
  if (provider.forwardPayloadHeader) {
    const encoded = token.split(".")[1] ?? "";
    setHeaders.push([
      provider.forwardPayloadHeader,
      provider.padForwardPayloadHeader ? pad(encoded) : encoded,
    ]);
  }
  for (const { header, claim } of provider.claimToHeaders) {
    const value = payload[claim];
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      if (!/[\r\n\0]/.test(String(value))) setHeaders.push([header, String(value)]);
    }
  }
  return { ok: true, effects: { removeHeaders, setHeaders } };
}

const localKeySets = new WeakMap<JwtProviderConfig, JWTVerifyGetKey>();

function localKeys(provider: JwtProviderConfig): JWTVerifyGetKey {
  let keys = localKeySets.get(provider);
  if (!keys && provider.jwks.kind === "local") {
    keys = createLocalJWKSet(provider.jwks.jwks);
    localKeySets.set(provider, keys);
  }
  if (!keys) throw new Error("a local JWKS provider without keys");
  return keys;
}

/** Envoy's messages for jose's failures. */
function failureOf(error: unknown): [string, 401 | 403] {
  if (error instanceof errors.JWTExpired) return ["Jwt is expired", 401];
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case "aud":
        return ["Audiences in Jwt are not allowed", 403];
      case "iss":
        return ["Jwt issuer is not configured", 401];
      case "nbf":
        return ["Jwt not yet valid", 401];
      case "exp":
        return ["Jwt doesn't have expiration time", 401];
      default:
        return [`Jwt verification fails: ${error.message}`, 401];
    }
  }
  if (error instanceof errors.JWKSNoMatchingKey)
    return ["Jwks doesn't have key to match kid or alg from Jwt", 401];
  if (error instanceof errors.JWKSMultipleMatchingKeys)
    return ["Jwks has more than one key that matches the Jwt", 401];
  if (error instanceof errors.JOSEError) return ["Jwt verification fails", 401];
  throw error;
}

/** The first token found in the provider's locations. */
export function findToken(
  provider: JwtProviderConfig,
  request: RequestView,
): { token: string; location: TokenLocation } | undefined {
  for (const location of provider.locations) {
    const token = tokenAt(location, request);
    if (token) return { token, location };
  }
  return undefined;
}

function tokenAt(location: TokenLocation, request: RequestView): string | undefined {
  switch (location.kind) {
    case "header": {
      const value = request.header(location.name);
      if (value === undefined) return undefined;
      if (location.prefix === "") return value.trim() || undefined;
      if (value.length < location.prefix.length) return undefined;
      if (value.slice(0, location.prefix.length).toLowerCase() !== location.prefix.toLowerCase())
        return undefined;
      return value.slice(location.prefix.length).trim() || undefined;
    }
    case "param":
      return request.queryParameter(location.name) || undefined;
    case "cookie": {
      const cookies = request.header("cookie");
      if (!cookies) return undefined;
      for (const part of cookies.split(/;\s*/)) {
        const eq = part.indexOf("=");
        if (eq !== -1 && part.slice(0, eq).trim() === location.name)
          return part.slice(eq + 1).trim() || undefined;
      }
      return undefined;
    }
  }
}

function merge(effects: readonly JwtSuccess[]): JwtSuccess {
  return {
    removeHeaders: effects.flatMap((e) => e.removeHeaders),
    setHeaders: effects.flatMap((e) => e.setHeaders),
  };
}

function pad(base64url: string): string {
  return base64url + "=".repeat((4 - (base64url.length % 4)) % 4);
}
