import { create } from "@bufbuild/protobuf";
import { JwtAuthenticationSchema } from "@dispatch/proto/envoy";
import test from "ava";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { JwksCache } from "../../src/filters/jwks-cache.js";
import { checkJwt } from "../../src/filters/jwt.js";
import { compileJwtAuthentication } from "../../src/filters/jwt-config.js";
import { ConfigError } from "../../src/route-table/config-error.js";
import { request } from "../support/envoy.js";

const issuer = "https://issuer.test";
const keys = await generateKeyPair("RS256");
const other = await generateKeyPair("RS256");
const publicJwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
const now = Date.parse("2030-01-01T00:00:00Z");

function sign(
  claims: Record<string, unknown>,
  options: { key?: Parameters<SignJWT["sign"]>[0]; kid?: string } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", kid: options.kid ?? "k1" })
    .sign(options.key ?? keys.privateKey);
}
const valid = () => sign({ iss: issuer, aud: "api", sub: "ada", exp: now / 1000 + 600, iat: now / 1000 });

function config(extra: object = {}) {
  return compileJwtAuthentication(
    create(JwtAuthenticationSchema, {
      providers: {
        main: {
          issuer,
          audiences: ["api"],
          jwksSourceSpecifier: {
            case: "localJwks",
            value: { specifier: { case: "inlineString", value: JSON.stringify({ keys: [publicJwk] }) } },
          },
          claimToHeaders: [{ headerName: "x-user", claimName: "sub" }],
        },
      },
      requirementMap: { main: { requiresType: { case: "providerName", value: "main" } } },
      rules: [
        {
          match: { pathSpecifier: { case: "prefix", value: "/private" } },
          requirementType: { case: "requirementName", value: "main" },
        },
      ],
      bypassCorsPreflight: true,
      ...extra,
    }),
    100,
  );
}
const context = {
  jwks: new JwksCache(
    () => Promise.reject(new Error("no remote JWKS here")),
    () => now,
  ),
  now: () => now,
};
const call = (path: string, headers: Record<string, string> = {}) =>
  request("GET", `http://api.test${path}`, headers);

test("JWT: a token signed by the provider's key passes; the token is not forwarded, claims become headers", async (t) => {
  const outcome = await checkJwt(
    config(),
    undefined,
    call("/private", { authorization: `Bearer ${await valid()}` }),
    0,
    context,
  );
  t.deepEqual(outcome, {
    ok: true,
    effects: { removeHeaders: ["authorization"], setHeaders: [["x-user", "ada"]] },
  });
});

test("JWT: missing, expired, wrong audience, wrong issuer and forged tokens are refused with Envoy's answers", async (t) => {
  const check = async (headers: Record<string, string>) => {
    const outcome = await checkJwt(config(), undefined, call("/private/x", headers), 0, context);
    return outcome.ok ? "ok" : `${outcome.failure.status} ${outcome.failure.message}`;
  };
  t.is(await check({}), "401 Jwt is missing");
  t.is(
    await check({
      authorization: `Bearer ${await sign({ iss: issuer, aud: "api", exp: now / 1000 - 3600 })}`,
    }),
    "401 Jwt is expired",
  );
  t.is(
    await check({
      authorization: `Bearer ${await sign({ iss: issuer, aud: "other", exp: now / 1000 + 60 })}`,
    }),
    "403 Audiences in Jwt are not allowed",
  );
  t.is(
    await check({
      authorization: `Bearer ${await sign({ iss: "https://evil.test", aud: "api", exp: now / 1000 + 60 })}`,
    }),
    "401 Jwt issuer is not configured",
  );
  t.is(
    await check({
      authorization: `Bearer ${await sign({ iss: issuer, aud: "api", exp: now / 1000 + 60 }, { key: other.privateKey })}`,
    }),
    "401 Jwt verification fails",
  );
  t.is(
    await check({ authorization: "Bearer not.a.jwt" }),
    "401 Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
  );
  t.is(
    await check({
      authorization: `Bearer ${await sign({ iss: issuer, aud: "api", exp: now / 1000 + 60 }, { kid: "k9" })}`,
    }),
    "401 Jwks doesn't have key to match kid or alg from Jwt",
  );
});

test("JWT: rules pick the requirement; per-route configs override them; CORS preflights pass", async (t) => {
  t.true(
    (await checkJwt(config(), undefined, call("/public"), 0, context)).ok,
    "no rule matches: no requirement",
  );
  t.false((await checkJwt(config(), { kind: "requirement", name: "main" }, call("/public"), 0, context)).ok);
  t.true((await checkJwt(config(), { kind: "disabled" }, call("/private"), 0, context)).ok);
  const unknown = await checkJwt(
    config(),
    { kind: "requirement", name: "nope" },
    call("/private"),
    0,
    context,
  );
  t.deepEqual(unknown, {
    ok: false,
    failure: { status: 403, message: "Wrong requirement_name is configured", missing: false },
  });
  const preflight = request("OPTIONS", "http://api.test/private", {
    origin: "https://app.test",
    "access-control-request-method": "GET",
  });
  t.true((await checkJwt(config(), undefined, preflight, 0, context)).ok);
});

test("JWT: requires_any with allow_missing takes no token but refuses a bad one", async (t) => {
  const optional = config({
    requirementMap: {
      optional: {
        requiresType: {
          case: "requiresAny",
          value: {
            requirements: [
              { requiresType: { case: "providerName", value: "main" } },
              { requiresType: { case: "allowMissing", value: {} } },
            ],
          },
        },
      },
    },
    rules: [],
  });
  const route = { kind: "requirement" as const, name: "optional" };
  t.true((await checkJwt(optional, route, call("/x"), 0, context)).ok);
  t.true(
    (await checkJwt(optional, route, call("/x", { authorization: `Bearer ${await valid()}` }), 0, context))
      .ok,
  );
  const forged = await sign({ iss: issuer, aud: "api", exp: now / 1000 + 60 }, { key: other.privateKey });
  t.false(
    (await checkJwt(optional, route, call("/x", { authorization: `Bearer ${forged}` }), 0, context)).ok,
  );
});

test("JWT: a malformed local JWKS and a requirement naming no provider are refused", (t) => {
  const bad = (providers: object, requirementMap: object = {}) =>
    t.throws(
      () =>
        compileJwtAuthentication(
          create(JwtAuthenticationSchema, { providers, requirementMap } as never),
          100,
        ),
      { instanceOf: ConfigError },
    );
  const inline = (value: string) => ({
    main: {
      jwksSourceSpecifier: { case: "localJwks", value: { specifier: { case: "inlineString", value } } },
    },
  });
  t.regex(bad(inline("{not json")).message, /providers\["main"\]\.local_jwks: the JWKS is not JSON/);
  t.regex(bad(inline('{"keys":[{"kty":"nope"}]}')).message, /the JWKS is malformed|keys/);
  t.regex(
    bad(inline(JSON.stringify({ keys: [publicJwk] })), {
      r: { requiresType: { case: "providerName", value: "ghost" } },
    }).message,
    /requirement_map\["r"\]\.provider_name: names provider "ghost"/,
  );
});

test("JWKS cache: one fetch serves until cache_duration; a failure is not retried at once; an unknown kid refreshes early", async (t) => {
  let clock = 0;
  let fetches = 0;
  let document = JSON.stringify({ keys: [publicJwk] });
  let failing = false;
  const cache = new JwksCache(
    async () => {
      fetches++;
      if (failing) throw new Error("connection refused");
      return document;
    },
    () => clock,
    1_000,
  );
  const source = { uri: "https://issuer.test/jwks", cluster: "jwks", timeoutMs: 1_000, cacheMs: 60_000 };
  await Promise.all([cache.keys(source), cache.keys(source)]);
  t.is(fetches, 1, "concurrent first requests share one fetch");
  clock = 59_999;
  await cache.keys(source);
  t.is(fetches, 1);
  clock = 60_000;
  failing = true;
  await cache.keys(source);
  t.is(fetches, 2, "expired keys are refreshed (and keep serving while the refresh fails)");

  const fresh = new JwksCache(
    async () => {
      fetches++;
      throw new Error("connection refused");
    },
    () => clock,
    1_000,
  );
  fetches = 0;
  await t.throwsAsync(fresh.keys(source), { message: /Jwks remote fetch is failed: connection refused/ });
  await t.throwsAsync(fresh.keys(source), { message: /connection refused/ });
  t.is(fetches, 1, "a failed fetch is not repeated within retryAfterMs");

  failing = false;
  const rotated = { ...publicJwk, kid: "k2" };
  document = JSON.stringify({ keys: [publicJwk, rotated] });
  clock += 2_000;
  const refreshed = await cache.refresh(source);
  t.truthy(refreshed);
  t.is(await cache.refresh(source), undefined, "at most one early refresh per retryAfterMs");
});
