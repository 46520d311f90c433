import { createPublicKey, type JsonWebKey } from "node:crypto";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { JwtAuthentication, JwtProvider, JwtRequirement } from "@dispatch/proto/envoy";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import { ConfigError, within } from "../route-table/config-error.js";
import { type CompiledRouteMatch, compileRouteMatch } from "../route-table/route-match.js";
import { compileStringMatcher, type StringMatch } from "../route-table/string-matcher.js";

/** Where a provider looks for its token. */
export type TokenLocation =
  | { readonly kind: "header"; readonly name: string; readonly prefix: string }
  | { readonly kind: "param"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string };

/** Where a provider's keys come from. */
export type JwksSource =
  | {
      readonly kind: "remote";
      readonly uri: string;
      /** The cluster the JWKS is fetched through. */
      readonly cluster: string;
      readonly timeoutMs: number;
      /** How long fetched keys are used (Envoy's default: 10 min). */
      readonly cacheMs: number;
      /** Fetch when the config arrives, not on the first request. */
      readonly asyncFetch: boolean;
    }
  | { readonly kind: "local"; readonly jwks: JSONWebKeySet };

/** A compiled `JwtProvider`. */
export interface JwtProviderConfig {
  readonly name: string;
  readonly issuer: string | undefined;
  readonly audiences: readonly string[];
  readonly subjects: StringMatch | undefined;
  readonly requireExpiration: boolean;
  readonly maxLifetimeSeconds: number | undefined;
  readonly clockSkewSeconds: number;
  readonly jwks: JwksSource;
  readonly forward: boolean;
  readonly locations: readonly TokenLocation[];
  readonly forwardPayloadHeader: string | undefined;
  readonly padForwardPayloadHeader: boolean;
  readonly claimToHeaders: readonly { readonly header: string; readonly claim: string }[];
}

/** A compiled `JwtRequirement`. */
export type Requirement =
  | {
      readonly kind: "provider";
      readonly provider: string;
      readonly audiences: readonly string[] | undefined;
    }
  | { readonly kind: "any"; readonly of: readonly Requirement[] }
  | { readonly kind: "all"; readonly of: readonly Requirement[] }
  | { readonly kind: "allow-missing" }
  | { readonly kind: "allow-missing-or-failed" };

/** A compiled `JwtAuthentication` (the filter's listener-level config). */
export interface JwtConfig {
  readonly providers: ReadonlyMap<string, JwtProviderConfig>;
  /** `rules`, in order: the first whose match accepts the request decides its requirement. */
  readonly rules: readonly {
    readonly match: CompiledRouteMatch;
    readonly requirement: Requirement | undefined;
  }[];
  readonly requirementMap: ReadonlyMap<string, Requirement>;
  readonly bypassCorsPreflight: boolean;
  readonly stripFailureResponse: boolean;
}

/** A compiled jwt_authn `PerRouteConfig`. */
export type JwtPerRoute =
  | { readonly kind: "disabled" }
  | { readonly kind: "requirement"; readonly name: string };

/** Envoy's default: fetched keys are used for 10 minutes. */
export const defaultJwksCacheMs = 600_000;
/** Envoy's default clock skew for `exp` and `nbf`: 60 s. */
export const defaultClockSkewSeconds = 60;

/**
 * Compiles a JwtAuthentication. Every requirement must name providers that
 * exist; local JWKS must parse; remote JWKS need an http(s) URI, a cluster and
 * a timeout, as Envoy requires.
 */
export function compileJwtAuthentication(config: JwtAuthentication, maxProgramSize: number): JwtConfig {
  if (config.filterStateRules)
    throw new ConfigError("filter_state_rules", "are not supported by the gateway");
  const providers = new Map<string, JwtProviderConfig>();
  for (const name of Object.keys(config.providers).sort()) {
    const provider = config.providers[name];
    if (provider)
      providers.set(
        name,
        within(`providers[${JSON.stringify(name)}]`, () => compileProvider(name, provider, maxProgramSize)),
      );
  }
  const compileRequirement = (r: JwtRequirement | undefined, path: string): Requirement =>
    within(path, () => requirementOf(r, providers));
  const requirementMap = new Map<string, Requirement>();
  for (const name of Object.keys(config.requirementMap).sort()) {
    requirementMap.set(
      name,
      compileRequirement(config.requirementMap[name], `requirement_map[${JSON.stringify(name)}]`),
    );
  }
  const rules = config.rules.map((rule, i) =>
    within(`rules[${i}]`, () => {
      const match = compileRouteMatch(rule.match, maxProgramSize);
      const type = rule.requirementType;
      let requirement: Requirement | undefined;
      if (type.case === "requires") requirement = compileRequirement(type.value, "requires");
      else if (type.case === "requirementName") {
        requirement = requirementMap.get(type.value);
        if (!requirement) {
          throw new ConfigError(
            "requirement_name",
            `${JSON.stringify(type.value)} is not in requirement_map`,
          );
        }
      }
      return { match, requirement };
    }),
  );
  return {
    providers,
    rules,
    requirementMap,
    bypassCorsPreflight: config.bypassCorsPreflight,
    stripFailureResponse: config.stripFailureResponse,
  };
}

function requirementOf(
  r: JwtRequirement | undefined,
  providers: ReadonlyMap<string, JwtProviderConfig>,
): Requirement {
  const type = r?.requiresType;
  const known = (name: string, path: string) => {
    if (!providers.has(name))
      throw new ConfigError(path, `names provider ${JSON.stringify(name)}, which is not in providers`);
  };
  switch (type?.case) {
    case "providerName":
      known(type.value, "provider_name");
      return { kind: "provider", provider: type.value, audiences: undefined };
    case "providerAndAudiences":
      known(type.value.providerName, "provider_and_audiences.provider_name");
      return { kind: "provider", provider: type.value.providerName, audiences: type.value.audiences };
    case "requiresAny":
      return {
        kind: "any",
        of: type.value.requirements.map((x, i) =>
          within(`requires_any.requirements[${i}]`, () => requirementOf(x, providers)),
        ),
      };
    case "requiresAll":
      return {
        kind: "all",
        of: type.value.requirements.map((x, i) =>
          within(`requires_all.requirements[${i}]`, () => requirementOf(x, providers)),
        ),
      };
    case "allowMissingOrFailed":
      return { kind: "allow-missing-or-failed" };
    case "allowMissing":
      return { kind: "allow-missing" };
    default:
      throw new ConfigError("requires_type", "is required");
  }
}

function compileProvider(name: string, p: JwtProvider, maxProgramSize: number): JwtProviderConfig {
  const source = p.jwksSourceSpecifier;
  let jwks: JwksSource;
  switch (source.case) {
    case "remoteJwks": {
      const remote = source.value;
      const uri = remote.httpUri;
      if (!uri) throw new ConfigError("remote_jwks.http_uri", "is required");
      let parsed: URL;
      try {
        parsed = new URL(uri.uri);
      } catch {
        throw new ConfigError("remote_jwks.http_uri.uri", `${JSON.stringify(uri.uri)} is not a URL`);
      }
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        throw new ConfigError("remote_jwks.http_uri.uri", `${JSON.stringify(uri.uri)} must be http or https`);
      }
      if (uri.httpUpstreamType.case !== "cluster" || uri.httpUpstreamType.value === "") {
        throw new ConfigError(
          "remote_jwks.http_uri.cluster",
          "is required: the JWKS is fetched through a cluster",
        );
      }
      if (!uri.timeout) throw new ConfigError("remote_jwks.http_uri.timeout", "is required");
      jwks = {
        kind: "remote",
        uri: uri.uri,
        cluster: uri.httpUpstreamType.value,
        timeoutMs: durationMs(uri.timeout),
        cacheMs: remote.cacheDuration ? durationMs(remote.cacheDuration) : defaultJwksCacheMs,
        asyncFetch: remote.asyncFetch !== undefined,
      };
      break;
    }
    case "localJwks": {
      const data = source.value.specifier;
      const text =
        data.case === "inlineString"
          ? data.value
          : data.case === "inlineBytes"
            ? Buffer.from(data.value).toString("utf8")
            : undefined;
      if (text === undefined)
        throw new ConfigError("local_jwks", "must be inline (inline_string or inline_bytes)");
      jwks = { kind: "local", jwks: within("local_jwks", () => parseJwks(text)) };
      break;
    }
    case undefined:
      throw new ConfigError("jwks_source_specifier", "is required (remote_jwks or local_jwks)");
  }
  const locations: TokenLocation[] = [
    ...p.fromHeaders.map((h) => ({
      kind: "header" as const,
      name: h.name.toLowerCase(),
      prefix: h.valuePrefix,
    })),
    ...p.fromParams.map((name) => ({ kind: "param" as const, name })),
    ...p.fromCookies.map((name) => ({ kind: "cookie" as const, name })),
  ];
  if (locations.length === 0) {
    // Envoy's default: "Authorization: Bearer <token>", then the access_token query parameter.
    locations.push(
      { kind: "header", name: "authorization", prefix: "Bearer " },
      { kind: "param", name: "access_token" },
    );
  }
  const subjects = p.subjects;
  return {
    name,
    issuer: p.issuer === "" ? undefined : p.issuer,
    audiences: p.audiences,
    subjects: subjects ? within("subjects", () => compileStringMatcher(subjects, maxProgramSize)) : undefined,
    requireExpiration: p.requireExpiration || p.maxLifetime !== undefined,
    maxLifetimeSeconds: p.maxLifetime ? durationMs(p.maxLifetime) / 1000 : undefined,
    clockSkewSeconds: p.clockSkewSeconds || defaultClockSkewSeconds,
    jwks,
    forward: p.forward,
    locations,
    forwardPayloadHeader: p.forwardPayloadHeader === "" ? undefined : p.forwardPayloadHeader.toLowerCase(),
    padForwardPayloadHeader: p.padForwardPayloadHeader,
    claimToHeaders: p.claimToHeaders.map((c) => ({ header: c.headerName.toLowerCase(), claim: c.claimName })),
  };
}

/** Parses a JWKS document, refusing one jose cannot use (the message says why). */
export function parseJwks(text: string): JSONWebKeySet {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("", `the JWKS is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw new ConfigError("", 'the JWKS must be a JSON object with a "keys" array');
  }
  const jwks = value as JSONWebKeySet;
  if (jwks.keys.length === 0) throw new ConfigError("", "the JWKS has no keys");
  jwks.keys.forEach((key, i) => {
    // Each key must be one node:crypto can load, as Envoy refuses a JWKS with a key it cannot parse.
    try {
      if (key.kty === "oct") {
        if (typeof key.k !== "string" || key.k === "") throw new Error('an "oct" key needs "k"');
      } else {
        createPublicKey({ key: key as JsonWebKey, format: "jwk" });
      }
    } catch (error) {
      const kid = typeof key.kid === "string" ? ` (kid ${JSON.stringify(key.kid)})` : "";
      throw new ConfigError(
        "",
        `the JWKS is malformed: key ${i}${kid} cannot be loaded: ${(error as Error).message}`,
      );
    }
  });
  try {
    createLocalJWKSet(jwks);
  } catch (error) {
    throw new ConfigError("", `the JWKS is malformed: ${(error as Error).message}`);
  }
  return jwks;
}
