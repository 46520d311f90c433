import { isIP } from "node:net";
import { type EndpointAuth, isName } from "@dispatch/proto";
import type { AuthIR, JwksClusterIR, JwtProviderIR } from "../ir/ir.js";
import {
  bearerToken,
  endpointLimits,
  hostPattern,
  type Invalid,
  type Note,
  printable,
} from "./endpoint-rules.js";
import type { ResolvedTranslateOptions } from "./options.js";
import { sortedUnique } from "./order.js";
import type { IngressSnapshot } from "./snapshot.js";

/** How an endpoint's callers authenticate, and for JWT the provider and the upstream its keys come from. */
export interface PlannedAuth {
  auth: AuthIR;
  /** The provider, and the cluster its keys are fetched through (none for an inline key set). */
  jwt?: { provider: JwtProviderIR; cluster?: Omit<JwksClusterIR, "usedBy"> };
}

/**
 * An endpoint's `auth`, checked and resolved: public; token (the values of its
 * secret, each a usable bearer token; a missing secret refuses every call); or
 * JWT (issuer, audiences, and an http(s) JWKS URL, fetched through a cluster
 * of its own).
 */
export function planAuth(
  endpoint: { key: string; org: string },
  auth: EndpointAuth | undefined,
  ctx: { options: ResolvedTranslateOptions; snapshot: Pick<IngressSnapshot, "tokens"> },
  invalid: Invalid,
  note: Note,
): PlannedAuth {
  const mode = auth?.mode;
  if (!mode || mode.case === undefined || mode.case === "public") return { auth: { kind: "public" } };
  if (mode.case === "token")
    return { auth: { kind: "token", tokens: tokens(endpoint.org, mode.value.secret, ctx, invalid, note) } };

  const jwt = mode.value;
  const planned: PlannedAuth = { auth: { kind: "jwt", provider: endpoint.key } };
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
  if (jwt.jwks !== "") {
    // The control plane checked it is a key set (JSON with "keys"), and not with jwks_uri too.
    if (!ok) return planned;
    planned.jwt = {
      provider: {
        name: endpoint.key,
        endpoint: endpoint.key,
        issuer: jwt.issuer,
        audiences: sortedUnique(jwt.audiences),
        jwks: { kind: "inline", json: jwt.jwks },
      },
    };
    return planned;
  }
  const jwks = parseJwksUri(jwt.jwksUri);
  if (!jwks) {
    invalid(
      "spec.auth.jwt.jwks_uri",
      `"${jwt.jwksUri.slice(0, 256)}" is not an http(s) URL of a JWKS document`,
    );
    return planned;
  }
  if (!ok) return planned;
  const cluster = {
    name: `jwks/${jwks.tls ? "https" : "http"}/${jwks.host}:${jwks.port}`,
    host: jwks.host,
    port: jwks.port,
    tls: jwks.tls,
    connectTimeoutMs: ctx.options.connectTimeoutMs,
  };
  planned.jwt = {
    provider: {
      name: endpoint.key,
      endpoint: endpoint.key,
      issuer: jwt.issuer,
      audiences: sortedUnique(jwt.audiences),
      jwks: {
        kind: "remote",
        uri: jwks.uri,
        cluster: cluster.name,
        cacheMs: ctx.options.jwksCacheMs,
        fetchTimeoutMs: ctx.options.jwksFetchTimeoutMs,
      },
    },
    cluster,
  };
  return planned;
}

/** The tokens a token-auth endpoint accepts; none (every call refused) when its secret is missing or empty. */
function tokens(
  org: string,
  secret: string,
  ctx: { snapshot: Pick<IngressSnapshot, "tokens"> },
  invalid: Invalid,
  note: Note,
): string[] {
  if (!isName(secret)) {
    invalid("spec.auth.token.secret", `"${secret.slice(0, 64)}" is not a secret name`);
    return [];
  }
  const values = ctx.snapshot.tokens(org, secret);
  if (values === undefined) {
    note("TokenSecretProblem", `secret "${secret}" does not exist in org "${org}": every call is refused`);
    return [];
  }
  if (values.length === 0) {
    note("TokenSecretProblem", `secret "${secret}" holds no token: every call is refused`);
    return [];
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
  return sortedUnique(usable.slice(0, endpointLimits.tokens));
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
