import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  CorsPolicySchema,
  CorsSchema,
  FractionalPercent_DenominatorType,
  JwtAuthenticationSchema,
  JwtPerRouteConfigSchema,
  LocalRateLimitSchema,
} from "@dispatch/proto/envoy";
import test from "ava";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import {
  edsCluster,
  httpFilter,
  listener,
  loadAssignment,
  prefixRoute,
  rds,
  routeConfig,
  routerFilter,
  staticCluster,
} from "./support/envoy.js";
import { withGateway } from "./support/gateway.js";
import { call } from "./support/http.js";

const at = (port: number) => [["127.0.0.1", port]] as const;
const all = {
  defaultValue: { numerator: 100, denominator: FractionalPercent_DenominatorType.HUNDRED },
  runtimeKey: "k",
};
const corsPolicy = anyPack(
  CorsPolicySchema,
  create(CorsPolicySchema, {
    allowOriginStringMatch: [{ matchPattern: { case: "exact", value: "https://app.test" } }],
    allowMethods: "GET,POST",
    allowHeaders: "authorization,content-type",
    maxAge: "600",
  }),
);

test("CORS: a preflight is answered by the gateway, a refused origin gets the route's 403, actual calls carry the headers", async (t) => {
  const { url, upstreams } = await withGateway(t, ["fn"], (u) => ({
    listeners: [
      listener("http", {
        routeSpecifier: rds("routes"),
        httpFilters: [httpFilter("envoy.filters.http.cors", CorsSchema, {}), routerFilter()],
      }),
    ],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              {
                name: "preflight",
                match: {
                  pathSpecifier: { case: "prefix", value: "/api" },
                  headers: [
                    { name: ":method", headerMatchSpecifier: { case: "exactMatch", value: "OPTIONS" } },
                    { name: "origin", headerMatchSpecifier: { case: "presentMatch", value: true } },
                    {
                      name: "access-control-request-method",
                      headerMatchSpecifier: { case: "presentMatch", value: true },
                    },
                  ],
                },
                action: {
                  case: "directResponse",
                  value: {
                    status: 403,
                    body: {
                      specifier: {
                        case: "inlineString",
                        value: "this origin may not call this endpoint (CORS)",
                      },
                    },
                  },
                },
                typedPerFilterConfig: { "envoy.filters.http.cors": corsPolicy },
              },
              {
                ...prefixRoute("/api", "fn"),
                typedPerFilterConfig: { "envoy.filters.http.cors": corsPolicy },
              },
            ],
          },
        ],
      }),
    ],
    clusters: [edsCluster("fn")],
    endpoints: [loadAssignment("fn", at(u.fn?.port ?? 0))],
  }));
  const preflight = (origin: string) =>
    call(`${url}/api/items`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST" },
    });
  const allowed = await preflight("https://app.test");
  t.is(allowed.status, 200);
  t.is(allowed.headers["access-control-allow-origin"], "https://app.test");
  t.is(allowed.headers["access-control-allow-methods"], "GET,POST");
  t.is(allowed.headers["access-control-max-age"], "600");
  const refused = await preflight("https://evil.test");
  t.is(refused.status, 403);
  t.is(JSON.parse(refused.body).error.message, "this origin may not call this endpoint (CORS)");
  t.is(refused.headers["access-control-allow-origin"], undefined);
  t.is(upstreams.fn?.received.length, 0, "preflights never reach the function");
  const actual = await call(`${url}/api/items`, { headers: { origin: "https://app.test" } });
  t.is(actual.status, 200);
  t.is(actual.headers["access-control-allow-origin"], "https://app.test");
});

test("rate limit: a route's token bucket refuses with 429 once empty; other routes are not limited", async (t) => {
  const { url, logEntry } = await withGateway(t, ["fn"], (u) => ({
    listeners: [
      listener("http", {
        routeSpecifier: rds("routes"),
        httpFilters: [
          httpFilter("envoy.filters.http.local_ratelimit", LocalRateLimitSchema, { statPrefix: "rl" }),
          routerFilter(),
        ],
      }),
    ],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              {
                ...prefixRoute("/limited", "fn"),
                typedPerFilterConfig: {
                  "envoy.filters.http.local_ratelimit": anyPack(
                    LocalRateLimitSchema,
                    create(LocalRateLimitSchema, {
                      statPrefix: "rl",
                      tokenBucket: {
                        maxTokens: 2,
                        tokensPerFill: 2,
                        fillInterval: durationFromMs(3_600_000),
                      },
                      filterEnabled: all,
                      filterEnforced: all,
                    }),
                  ),
                },
              },
              prefixRoute("/", "fn"),
            ],
          },
        ],
      }),
    ],
    clusters: [edsCluster("fn")],
    endpoints: [loadAssignment("fn", at(u.fn?.port ?? 0))],
  }));
  t.is((await call(`${url}/limited`)).status, 200);
  t.is((await call(`${url}/limited`)).status, 200);
  const refused = await call(`${url}/limited?third`);
  t.is(refused.status, 429);
  t.deepEqual(JSON.parse(refused.body), { error: { type: "InputError", message: "local_rate_limited" } });
  t.is((await logEntry((e) => e.path === "/limited?third")).flags, "RL");
  for (let i = 0; i < 4; i++) t.is((await call(`${url}/free`)).status, 200);
});

test("token auth as routes: the exact bearer token forwards (without the token), anything else is a 401", async (t) => {
  const tokenRoute = (token: string) => ({
    match: {
      pathSpecifier: { case: "prefix" as const, value: "/" },
      headers: [
        {
          name: "authorization",
          headerMatchSpecifier: {
            case: "stringMatch" as const,
            value: { matchPattern: { case: "exact" as const, value: `Bearer ${token}` } },
          },
        },
      ],
    },
    requestHeadersToRemove: ["authorization"],
    action: {
      case: "route" as const,
      value: { clusterSpecifier: { case: "cluster" as const, value: "fn" } },
    },
  });
  const { url, upstreams } = await withGateway(t, ["fn"], (u) => ({
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              tokenRoute("tok-one-0123456789"),
              tokenRoute("tok-two-0123456789"),
              {
                match: { pathSpecifier: { case: "prefix", value: "/" } },
                responseHeadersToAdd: [
                  { header: { key: "www-authenticate", value: 'Bearer realm="dispatch"' } },
                ],
                action: {
                  case: "directResponse",
                  value: {
                    status: 401,
                    body: {
                      specifier: {
                        case: "inlineString",
                        value: 'this endpoint needs a token: send "Authorization: Bearer <token>"',
                      },
                    },
                  },
                },
              },
            ],
          },
        ],
      }),
    ],
    clusters: [edsCluster("fn")],
    endpoints: [loadAssignment("fn", at(u.fn?.port ?? 0))],
  }));
  const ok = await call(`${url}/x`, { headers: { authorization: "Bearer tok-two-0123456789" } });
  t.is(ok.status, 200);
  t.is(JSON.parse(ok.body).headers.authorization, undefined, "the endpoint's token is not the function's");
  for (const headers of [
    {},
    { authorization: "Bearer tok-one-012345678" },
    { authorization: "Bearer tok-one-0123456789x" },
  ]) {
    const refused = await call(`${url}/x`, { headers });
    t.is(refused.status, 401);
    t.is(refused.headers["www-authenticate"], 'Bearer realm="dispatch"');
    t.regex(JSON.parse(refused.body).error.message, /needs a token/);
  }
  t.is(upstreams.fn?.received.length, 1);
});

test("JWT: tokens are checked against a JWKS fetched over HTTP through its cluster and cached; refusals are JSON 401s with CORS headers", async (t) => {
  const keys = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: "key-1", alg: "ES256" };
  let fetches = 0;
  let jwksHost = "";
  const jwksServer = http.createServer((req, res) => {
    fetches++;
    jwksHost = req.headers.host ?? "";
    if (req.url !== "/.well-known/jwks.json") return res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => jwksServer.close(() => resolve())));
  const jwksPort = (jwksServer.address() as AddressInfo).port;
  const issuer = "https://issuer.test";
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: "key-1" })
      .setIssuer(issuer)
      .setAudience("orders")
      .sign(keys.privateKey);

  const { url, upstreams } = await withGateway(t, ["fn"], (u) => ({
    listeners: [
      listener("http", {
        routeSpecifier: rds("routes"),
        httpFilters: [
          httpFilter("envoy.filters.http.cors", CorsSchema, {}),
          httpFilter("envoy.filters.http.jwt_authn", JwtAuthenticationSchema, {
            providers: {
              orders: {
                issuer,
                audiences: ["orders"],
                jwksSourceSpecifier: {
                  case: "remoteJwks",
                  value: {
                    httpUri: {
                      uri: "http://issuer.test/.well-known/jwks.json",
                      httpUpstreamType: { case: "cluster", value: "jwks" },
                      timeout: durationFromMs(5_000),
                    },
                    cacheDuration: durationFromMs(600_000),
                  },
                },
                claimToHeaders: [{ headerName: "x-jwt-sub", claimName: "sub" }],
              },
            },
            requirementMap: { orders: { requiresType: { case: "providerName", value: "orders" } } },
          }),
          routerFilter(),
        ],
      }),
    ],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              {
                ...prefixRoute("/orders", "fn"),
                typedPerFilterConfig: {
                  "envoy.filters.http.cors": corsPolicy,
                  "envoy.filters.http.jwt_authn": anyPack(
                    JwtPerRouteConfigSchema,
                    create(JwtPerRouteConfigSchema, {
                      requirementSpecifier: { case: "requirementName", value: "orders" },
                    }),
                  ),
                },
              },
              prefixRoute("/", "fn"),
            ],
          },
        ],
      }),
    ],
    clusters: [edsCluster("fn"), staticCluster("jwks", [["127.0.0.1", jwksPort]])],
    endpoints: [loadAssignment("fn", at(u.fn?.port ?? 0))],
  }));

  const token = await sign({ sub: "ada", exp: Math.floor(Date.now() / 1000) + 600 });
  for (let i = 0; i < 3; i++) {
    const ok = await call(`${url}/orders/${i}`, { headers: { authorization: `Bearer ${token}` } });
    t.is(ok.status, 200);
    const seen = JSON.parse(ok.body).headers;
    t.is(seen.authorization, undefined, "the verified token is not forwarded");
    t.is(seen["x-jwt-sub"], "ada");
  }
  t.is(fetches, 1, "one JWKS fetch serves the cache duration");
  t.is(jwksHost, "issuer.test", "fetched with the URI's host, through the cluster's endpoint");

  const missing = await call(`${url}/orders/1`, { headers: { origin: "https://app.test" } });
  t.is(missing.status, 401);
  t.deepEqual(JSON.parse(missing.body), { error: { type: "InputError", message: "Jwt is missing" } });
  t.regex(
    String(missing.headers["www-authenticate"]),
    /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/orders\/1"$/,
  );
  t.is(missing.headers["access-control-allow-origin"], "https://app.test", "a browser can read the refusal");

  const expired = await call(`${url}/orders/1`, {
    headers: { authorization: `Bearer ${await sign({ exp: Math.floor(Date.now() / 1000) - 3600 })}` },
  });
  t.is(expired.status, 401);
  t.is(JSON.parse(expired.body).error.message, "Jwt is expired");
  t.regex(String(expired.headers["www-authenticate"]), /error="invalid_token"/);

  const other = await generateKeyPair("ES256");
  const forged = await new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60 })
    .setProtectedHeader({ alg: "ES256", kid: "key-1" })
    .setIssuer(issuer)
    .setAudience("orders")
    .sign(other.privateKey);
  t.is((await call(`${url}/orders/1`, { headers: { authorization: `Bearer ${forged}` } })).status, 401);
  t.is((await call(`${url}/public`)).status, 200, "routes without a requirement are open");
  t.is(upstreams.fn?.received.filter((r) => r.url.startsWith("/orders")).length, 3);
});
