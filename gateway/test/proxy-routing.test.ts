import { create } from "@bufbuild/protobuf";
import { HttpConnectionManagerSchema } from "@dispatch/proto/envoy";
import test from "ava";
import { edsCluster, listener, loadAssignment, prefixRoute, rds, routeConfig } from "./support/envoy.js";
import { withGateway } from "./support/gateway.js";
import { call } from "./support/http.js";

const at = (port: number) => [["127.0.0.1", port]] as const;
const body = (answer: { body: string }) => JSON.parse(answer.body);

test("proxy: host, path, method and headers pick the route; the upstream gets x-forwarded-* and a request id; one access log line", async (t) => {
  const { url, accessLog, logEntry, upstreams } = await withGateway(t, ["a", "b"], (u) => ({
    listeners: [listener("http", { routeSpecifier: rds("routes"), useRemoteAddress: true })],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "api",
            domains: ["api.test"],
            routes: [
              {
                name: "writes",
                match: {
                  pathSpecifier: { case: "prefix", value: "/items" },
                  headers: [{ name: ":method", headerMatchSpecifier: { case: "exactMatch", value: "POST" } }],
                },
                action: { case: "route", value: { clusterSpecifier: { case: "cluster", value: "b" } } },
              },
              { name: "reads", ...prefixRoute("/items", "a") },
            ],
          },
          { name: "other", domains: ["*.other.test"], routes: [{ name: "other", ...prefixRoute("/", "b") }] },
        ],
      }),
    ],
    clusters: [edsCluster("a"), edsCluster("b")],
    endpoints: [loadAssignment("a", at(u.a?.port ?? 0)), loadAssignment("b", at(u.b?.port ?? 0))],
  }));
  const read = await call(`${url}/items/1?x=y`, { host: "api.test" });
  t.is(read.status, 200);
  t.is(body(read).upstream, "a");
  t.is(body(read).url, "/items/1?x=y");
  t.is(body(read).headers.host, "api.test", "the Host is kept");
  t.is(body(read).headers["x-forwarded-proto"], "http");
  t.is(body(read).headers["x-forwarded-for"], "127.0.0.1");
  t.regex(body(read).headers["x-request-id"], /^[0-9a-f-]{36}$/);
  t.is(body(await call(`${url}/items`, { host: "api.test", method: "POST", body: "{}" })).upstream, "b");
  t.is(body(await call(`${url}/`, { host: "shop.other.test" })).upstream, "b");
  t.is((await call(`${url}/items`, { host: "unknown.test" })).status, 404);

  const line = await logEntry((e) => e.path === "/items/1?x=y");
  t.like(line, {
    method: "GET",
    status: 200,
    route: "reads",
    cluster: "a",
    upstream: `127.0.0.1:${upstreams.a?.port}`,
    attempts: 1,
    flags: "",
  });
  t.true((line?.durationMs ?? -1) >= 0);
  t.is(accessLog.filter((e) => e.path === "/items/1?x=y").length, 1);
});

test("proxy: weighted clusters split by weight (a header picks the draw), with per-cluster header edits", async (t) => {
  const { url } = await withGateway(t, ["blue", "green"], (u) => ({
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              {
                match: { pathSpecifier: { case: "prefix", value: "/" } },
                action: {
                  case: "route",
                  value: {
                    clusterSpecifier: {
                      case: "weightedClusters",
                      value: {
                        clusters: [
                          {
                            name: "blue",
                            weight: 90,
                            requestHeadersToAdd: [{ header: { key: "x-variant", value: "stable" } }],
                          },
                          {
                            name: "green",
                            weight: 10,
                            requestHeadersToAdd: [{ header: { key: "x-variant", value: "canary" } }],
                          },
                        ],
                        randomValueSpecifier: { case: "headerName", value: "x-split" },
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
    clusters: [edsCluster("blue"), edsCluster("green")],
    endpoints: [
      loadAssignment("blue", at(u.blue?.port ?? 0)),
      loadAssignment("green", at(u.green?.port ?? 0)),
    ],
  }));
  const stable = body(await call(`${url}/`, { headers: { "x-split": "89" } }));
  t.is(stable.upstream, "blue");
  t.is(stable.headers["x-variant"], "stable");
  const canary = body(await call(`${url}/`, { headers: { "x-split": "90" } }));
  t.is(canary.upstream, "green");
  t.is(canary.headers["x-variant"], "canary");
  t.is(
    body(await call(`${url}/`, { headers: { "x-split": "199" } })).upstream,
    "green",
    "the draw is taken modulo the total weight",
  );
});

test("proxy: direct responses, redirects, rewrites and header edits at every level", async (t) => {
  const { url } = await withGateway(t, ["fn"], (u) => ({
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [
      routeConfig({
        name: "routes",
        requestHeadersToAdd: [{ header: { key: "x-level", value: "config" } }],
        responseHeadersToAdd: [{ header: { key: "x-served-by", value: "gateway" } }],
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            requestHeadersToAdd: [{ header: { key: "x-level", value: "vhost" } }],
            routes: [
              {
                match: { pathSpecifier: { case: "path", value: "/ping" } },
                action: {
                  case: "directResponse",
                  value: { status: 200, body: { specifier: { case: "inlineString", value: "pong" } } },
                },
              },
              {
                match: { pathSpecifier: { case: "path", value: "/down" } },
                action: {
                  case: "directResponse",
                  value: {
                    status: 503,
                    body: { specifier: { case: "inlineString", value: "the function is not ready" } },
                  },
                },
              },
              {
                match: { pathSpecifier: { case: "prefix", value: "/old" } },
                action: {
                  case: "redirect",
                  value: {
                    schemeRewriteSpecifier: { case: "httpsRedirect", value: true },
                    pathRewriteSpecifier: { case: "prefixRewrite", value: "/new" },
                  },
                },
              },
              {
                match: { pathSpecifier: { case: "prefix", value: "/acme" } },
                requestHeadersToAdd: [
                  { header: { key: "x-level", value: "route" } },
                  { header: { key: "x-client", value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" } },
                ],
                requestHeadersToRemove: ["x-secret"],
                responseHeadersToAdd: [{ header: { key: "x-route", value: "acme" } }],
                action: {
                  case: "route",
                  value: {
                    clusterSpecifier: { case: "cluster", value: "fn" },
                    regexRewrite: { pattern: { regex: "^/acme(/|$)" }, substitution: "/" },
                    hostRewriteSpecifier: { case: "hostRewriteLiteral", value: "fn.internal" },
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
  const pong = await call(`${url}/ping`);
  t.is(pong.status, 200);
  t.is(pong.body, "pong");
  t.is(pong.headers["x-served-by"], "gateway", "a direct response gets the route's response headers");
  const down = await call(`${url}/down`);
  t.is(down.status, 503);
  t.deepEqual(JSON.parse(down.body), {
    error: { type: "SystemError", message: "the function is not ready" },
  });
  const moved = await call(`${url}/old/page?q=1`, { host: "api.test" });
  t.is(moved.status, 301);
  t.is(moved.headers.location, "https://api.test/new/page?q=1");

  const forwarded = await call(`${url}/acme/hello?x=1`, { headers: { "x-secret": "s" } });
  t.is(forwarded.headers["x-route"], "acme");
  t.is(forwarded.headers["x-served-by"], "gateway");
  const seen = body(forwarded);
  t.is(seen.url, "/hello?x=1");
  t.is(seen.headers.host, "fn.internal");
  t.is(
    seen.headers["x-level"],
    "route, vhost, config",
    "appended from the most specific level out (joined by the upstream)",
  );
  t.is(seen.headers["x-client"], "127.0.0.1");
  t.is(seen.headers["x-secret"], undefined);
});

test("proxy: failures are JSON errors: no route, unknown cluster, no healthy host, refused connection", async (t) => {
  const { url, logEntry } = await withGateway(t, [], () => ({
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              prefixRoute("/ghost", "ghost"),
              prefixRoute("/empty", "empty"),
              prefixRoute("/dead", "dead"),
            ],
          },
        ],
      }),
    ],
    clusters: [edsCluster("empty"), edsCluster("dead")],
    endpoints: [loadAssignment("empty", []), loadAssignment("dead", [["127.0.0.1", 1]])],
  }));
  const check = async (path: string, status: number, type: string, message: RegExp, flag: string) => {
    const answer = await call(`${url}${path}`);
    t.is(answer.status, status, path);
    t.is(answer.headers["content-type"], "application/json");
    const error = JSON.parse(answer.body).error;
    t.is(error.type, type);
    t.regex(error.message, message);
    t.is((await logEntry((e) => e.path === path))?.flags, flag);
  };
  await check("/nowhere", 404, "InputError", /no route matches/, "NR");
  await check("/ghost", 503, "SystemError", /cluster is not configured/, "NC");
  await check("/empty", 503, "SystemError", /no healthy upstream/, "UH");
  await check(
    "/dead",
    503,
    "SystemError",
    /upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/,
    "UF",
  );
});

test("proxy: the listener's local_reply_config shapes the gateway's own answers", async (t) => {
  const hcm = create(HttpConnectionManagerSchema, {
    localReplyConfig: {
      mappers: [
        {
          filter: { filterSpecifier: { case: "responseFlagFilter", value: { flags: ["NR"] } } },
          bodyFormatOverride: {
            format: {
              case: "jsonFormat",
              value: {
                error: { type: "InputError", message: "no endpoint serves %REQ(:METHOD)% %REQ(:PATH)%" },
              },
            },
          },
        },
      ],
    },
  });
  const { url } = await withGateway(t, [], () => ({
    listeners: [listener("http", { routeSpecifier: rds("routes"), localReplyConfig: hcm.localReplyConfig })],
    routes: [routeConfig({ name: "routes", virtualHosts: [{ name: "all", domains: ["*"], routes: [] }] })],
  }));
  const answer = await call(`${url}/missing?x=1`, { method: "DELETE" });
  t.is(answer.status, 404);
  t.deepEqual(JSON.parse(answer.body), {
    error: { type: "InputError", message: "no endpoint serves DELETE /missing?x=1" },
  });
});

test("proxy: the connection manager normalizes paths before routing, so dot segments cannot reach around a route", async (t) => {
  const { url } = await withGateway(t, ["fn"], (u) => ({
    listeners: [listener("http", { routeSpecifier: rds("routes"), normalizePath: true, mergeSlashes: true })],
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              {
                match: { pathSpecifier: { case: "prefix", value: "/admin" } },
                action: {
                  case: "directResponse",
                  value: { status: 403, body: { specifier: { case: "inlineString", value: "admins only" } } },
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
  t.is((await call(`${url}/public/../admin/users`)).status, 403);
  t.is((await call(`${url}//admin`)).status, 403);
  t.is((await call(`${url}/%61dmin`)).status, 403);
  const ok = await call(`${url}/public/./page`);
  t.is(body(ok).url, "/public/page", "the upstream gets the normalized path");
});
