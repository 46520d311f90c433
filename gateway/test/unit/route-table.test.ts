import { durationFromMs } from "@bufbuild/protobuf/wkt";
import test from "ava";
import { ConfigError } from "../../src/route-table/config-error.js";
import { pickCluster } from "../../src/route-table/rewrite.js";
import { defaultRouteTimeoutMs } from "../../src/route-table/route-action.js";
import { prefixRoute, request, routes } from "../support/envoy.js";

const ok = (status = 200) => ({ case: "directResponse" as const, value: { status } });

test("routes: the first route in order that matches wins (prefix, exact path, RE2 regex, path-separated prefix)", (t) => {
  const table = routes({
    name: "r",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          { name: "exact", match: { pathSpecifier: { case: "path", value: "/hello" } }, action: ok() },
          {
            name: "regex",
            match: { pathSpecifier: { case: "safeRegex", value: { regex: "/items/[0-9]+" } } },
            action: ok(),
          },
          {
            name: "separated",
            match: { pathSpecifier: { case: "pathSeparatedPrefix", value: "/api" } },
            action: ok(),
          },
          { name: "prefix", match: { pathSpecifier: { case: "prefix", value: "/" } }, action: ok() },
        ],
      },
    ],
  });
  const name = (url: string) => table.route(request("GET", url), 0).route?.name;
  t.is(name("http://h/hello"), "exact");
  t.is(name("http://h/hello?x=1"), "exact", "the query string is not part of an exact path");
  t.is(name("http://h/hello/"), "prefix");
  t.is(name("http://h/items/42"), "regex");
  t.is(name("http://h/items/42?page=2"), "regex", "a regex matches the path without its query");
  t.is(name("http://h/items/4x"), "prefix", "a regex must match the whole path");
  t.is(name("http://h/api"), "separated");
  t.is(name("http://h/api/v1"), "separated");
  t.is(name("http://h/apiary"), "prefix", "a path-separated prefix ends at a /");
});

test("routes: case_sensitive false folds case for prefix and path", (t) => {
  const table = routes({
    name: "r",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          {
            name: "p",
            match: { pathSpecifier: { case: "prefix", value: "/Docs" }, caseSensitive: false },
            action: ok(),
          },
        ],
      },
    ],
  });
  t.is(table.route(request("GET", "http://h/docs/a"), 0).route?.name, "p");
  t.is(table.route(request("GET", "http://h/dox"), 0).route, undefined);
});

test("routes: header matchers (incl. :method), presence, inversion and query parameters must all match", (t) => {
  const table = routes({
    name: "r",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          {
            name: "post-json",
            match: {
              pathSpecifier: { case: "prefix", value: "/" },
              headers: [
                {
                  name: ":method",
                  headerMatchSpecifier: {
                    case: "stringMatch",
                    value: { matchPattern: { case: "safeRegex", value: { regex: "POST|PUT" } } },
                  },
                },
                {
                  name: "content-type",
                  headerMatchSpecifier: { case: "prefixMatch", value: "application/json" },
                },
                {
                  name: "x-debug",
                  headerMatchSpecifier: { case: "presentMatch", value: true },
                  invertMatch: true,
                },
              ],
              queryParameters: [
                {
                  name: "v",
                  queryParameterMatchSpecifier: {
                    case: "stringMatch",
                    value: { matchPattern: { case: "exact", value: "2" } },
                  },
                },
              ],
            },
            action: ok(),
          },
          { name: "rest", match: { pathSpecifier: { case: "prefix", value: "/" } }, action: ok() },
        ],
      },
    ],
  });
  const name = (method: string, url: string, headers: Record<string, string>) =>
    table.route(request(method, url, headers), 0).route?.name;
  const json = { "content-type": "application/json; charset=utf-8" };
  t.is(name("POST", "http://h/x?v=2", json), "post-json");
  t.is(name("PUT", "http://h/x?a=1&v=2", json), "post-json");
  t.is(name("GET", "http://h/x?v=2", json), "rest", ":method must match the regex wholly");
  t.is(name("POSTX", "http://h/x?v=2", json), "rest");
  t.is(name("POST", "http://h/x?v=3", json), "rest");
  t.is(name("POST", "http://h/x", json), "rest", "a missing query parameter does not match");
  t.is(
    name("POST", "http://h/x?v=2", { ...json, "x-debug": "1" }),
    "rest",
    "invert_match of a present header",
  );
  t.is(name("POST", "http://h/x?v=2", {}), "rest", "a missing header matches nothing");
});

test("routes: an exact match on the authorization header compares the whole value (token auth as routes)", (t) => {
  const table = routes({
    name: "r",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          {
            name: "token",
            match: {
              pathSpecifier: { case: "prefix", value: "/" },
              headers: [
                {
                  name: "authorization",
                  headerMatchSpecifier: {
                    case: "stringMatch",
                    value: { matchPattern: { case: "exact", value: "Bearer s3cret-token" } },
                  },
                },
              ],
            },
            action: ok(),
          },
          { name: "unauthorized", match: { pathSpecifier: { case: "prefix", value: "/" } }, action: ok(401) },
        ],
      },
    ],
  });
  const name = (auth?: string) =>
    table.route(request("GET", "http://h/", auth ? { authorization: auth } : {}), 0).route?.name;
  t.is(name("Bearer s3cret-token"), "token");
  t.is(name("Bearer s3cret-toke"), "unauthorized");
  t.is(name("Bearer s3cret-token2"), "unauthorized");
  t.is(name("bearer s3cret-token"), "unauthorized");
  t.is(name(), "unauthorized");
});

test("routes: weighted clusters split by cumulative weight over the draw", (t) => {
  const table = routes({
    name: "r",
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
                      { name: "blue", weight: 90 },
                      { name: "green", weight: 10 },
                    ],
                  },
                },
              },
            },
          },
        ],
      },
    ],
  });
  const action = table.route(request("GET", "http://h/"), 0).route?.action;
  if (action?.kind !== "forward") return t.fail("a forwarding route");
  const pick = (random: number) => pickCluster(action.clusters, request("GET", "http://h/"), random).name;
  t.is(pick(0), "blue");
  t.is(pick(0.899), "blue");
  t.is(pick(0.9), "green");
  t.is(pick(0.999), "green");
});

test("routes: timeouts default to Envoy's 15 s, 0 disables them, and retry policies compile", (t) => {
  const table = routes({
    name: "r",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          prefixRoute("/default", "c"),
          {
            match: { pathSpecifier: { case: "prefix", value: "/" } },
            action: {
              case: "route",
              value: {
                clusterSpecifier: { case: "cluster", value: "c" },
                timeout: durationFromMs(0),
                retryPolicy: {
                  retryOn: "5xx,connect-failure",
                  numRetries: 3,
                  perTryTimeout: durationFromMs(250),
                },
              },
            },
          },
        ],
      },
    ],
  });
  const first = table.route(request("GET", "http://h/default"), 0).route?.action;
  const second = table.route(request("GET", "http://h/other"), 0).route?.action;
  if (first?.kind !== "forward" || second?.kind !== "forward") return t.fail("forwarding routes");
  t.is(first.timeoutMs, defaultRouteTimeoutMs);
  t.is(first.retryPolicy, undefined);
  t.is(second.timeoutMs, 0);
  t.deepEqual([...(second.retryPolicy?.retryOn ?? [])], ["5xx", "connect-failure"]);
  t.is(second.retryPolicy?.numRetries, 3);
  t.is(second.retryPolicy?.perTryTimeoutMs, 250);
});

test("routes: per-route filter configs are compiled by the filters (and refused when broken)", (t) => {
  const error = t.throws(
    () =>
      routes({
        name: "r",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              {
                ...prefixRoute("/", "c"),
                typedPerFilterConfig: {
                  "envoy.filters.http.unknown": {
                    typeUrl: "type.googleapis.com/some.Unknown",
                    value: new Uint8Array(),
                  },
                },
              },
            ],
          },
        ],
      }),
    { instanceOf: ConfigError },
  );
  t.regex(
    error.message,
    /virtual_hosts\[0\]\.routes\[0\]\.typed_per_filter_config\["envoy.filters.http.unknown"\]: the gateway has no HTTP filter for type.googleapis.com\/some.Unknown/,
  );
});

test("routes: what Envoy would refuse is refused with the field and the reason", (t) => {
  const bad = (route: object, message: RegExp) => {
    const error = t.throws(
      () => routes({ name: "r", virtualHosts: [{ name: "all", domains: ["*"], routes: [route as never] }] }),
      {
        instanceOf: ConfigError,
      },
    );
    t.regex(error.message, message);
  };
  bad(
    { match: { pathSpecifier: { case: "safeRegex", value: { regex: "(a)\\1" } } }, action: ok() },
    /routes\[0\]\.match\.safe_regex\.regex: "\(a\)\\\\1" is not a valid RE2 regex/,
  );
  bad(
    { match: { pathSpecifier: { case: "safeRegex", value: { regex: "(?=lookahead)" } } }, action: ok() },
    /not a valid RE2 regex/,
  );
  bad(
    { match: { pathSpecifier: { case: "safeRegex", value: { regex: "[a-z]{1,1000}" } } }, action: ok() },
    /RE2 program size \d+ is larger than the max allowed \(100\)/,
  );
  bad(
    {
      match: { pathSpecifier: { case: "prefix", value: "/" } },
      action: {
        case: "route",
        value: {
          clusterSpecifier: {
            case: "weightedClusters",
            value: {
              clusters: [
                { name: "a", weight: 0 },
                { name: "b", weight: 0 },
              ],
            },
          },
        },
      },
    },
    /routes\[0\]\.route\.weighted_clusters: the sum of the cluster weights must be greater than 0/,
  );
  bad(
    {
      match: { pathSpecifier: { case: "prefix", value: "/" } },
      action: {
        case: "route",
        value: {
          clusterSpecifier: { case: "cluster", value: "c" },
          retryPolicy: { retryOn: "5xx,sometimes" },
        },
      },
    },
    /retry_policy\.retry_on: "sometimes" is not a retry condition/,
  );
  bad({ match: { pathSpecifier: { case: "prefix", value: "/" } } }, /routes\[0\]\.action: is required/);
});
