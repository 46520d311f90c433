import test from "ava";
import { compilePattern } from "../../src/route-table/regex.js";
import { redirectLocation, rewritePath } from "../../src/route-table/rewrite.js";
import type { RedirectRouteAction } from "../../src/route-table/route-action.js";
import { request } from "../support/envoy.js";

const redirect = (init: Partial<RedirectRouteAction>): RedirectRouteAction => ({
  kind: "redirect",
  scheme: undefined,
  host: undefined,
  port: undefined,
  path: undefined,
  status: 301,
  stripQuery: false,
  ...init,
});

test("rewrite: prefix_rewrite replaces what the route matched and keeps the query", (t) => {
  const prefix = { kind: "prefix" as const, prefix: "/acme", caseSensitive: true };
  t.is(rewritePath("/acme/hello?x=1", prefix, { kind: "prefix", replacement: "/" }), "//hello?x=1");
  t.is(rewritePath("/acme/hello?x=1", prefix, { kind: "prefix", replacement: "" }), "/hello?x=1");
  const exact = { kind: "path" as const, path: "/old", caseSensitive: true };
  t.is(rewritePath("/old?q", exact, { kind: "prefix", replacement: "/new" }), "/new?q");
  const separated = { kind: "separated-prefix" as const, prefix: "/v1", caseSensitive: true };
  t.is(rewritePath("/v1/items?a", separated, { kind: "prefix", replacement: "/v2" }), "/v2/items?a");
});

test("rewrite: regex_rewrite substitutes capture groups in the path only", (t) => {
  const regex = compilePattern("^/acme(/|$)", 100);
  t.is(
    rewritePath(
      "/acme/hello?x=/acme/",
      { kind: "prefix", prefix: "/acme", caseSensitive: true },
      { kind: "regex", regex, substitution: "/" },
    ),
    "/hello?x=/acme/",
  );
  const groups = compilePattern("^/items/([0-9]+)/(\\w+)$", 100);
  t.is(groups.replaceAll("/items/42/view", "/v2/\\2/\\1"), "/v2/view/42");
  t.is(compilePattern("o", 100).replaceAll("foo", "0"), "f00", "every match is replaced");
});

test("redirects: https_redirect keeps host, path and query, dropping the plain-HTTP default port", (t) => {
  const prefix = { kind: "prefix" as const, prefix: "/", caseSensitive: true };
  t.is(
    redirectLocation(request("GET", "http://api.test/a?b=1"), redirect({ scheme: "https" }), prefix),
    "https://api.test/a?b=1",
  );
  t.is(
    redirectLocation(request("GET", "http://api.test:80/a"), redirect({ scheme: "https" }), prefix),
    "https://api.test/a",
  );
  t.is(
    redirectLocation(request("GET", "http://api.test:8080/a"), redirect({ scheme: "https" }), prefix),
    "https://api.test:8080/a",
  );
  t.is(
    redirectLocation(
      request("GET", "http://api.test:8080/a"),
      redirect({ scheme: "https", port: 443 }),
      prefix,
    ),
    "https://api.test/a",
  );
});

test("redirects: host, path and prefix redirects, and strip_query", (t) => {
  const prefix = { kind: "prefix" as const, prefix: "/old", caseSensitive: true };
  const from = request("GET", "http://a.test/old/page?x=1");
  t.is(redirectLocation(from, redirect({ host: "b.test" }), prefix), "http://b.test/old/page?x=1");
  t.is(
    redirectLocation(from, redirect({ path: { kind: "path", path: "/new" } }), prefix),
    "http://a.test/new?x=1",
  );
  t.is(
    redirectLocation(from, redirect({ path: { kind: "path", path: "/new?y=2" } }), prefix),
    "http://a.test/new?y=2",
  );
  t.is(
    redirectLocation(from, redirect({ path: { kind: "prefix", replacement: "/new" } }), prefix),
    "http://a.test/new/page?x=1",
  );
  t.is(redirectLocation(from, redirect({ stripQuery: true }), prefix), "http://a.test/old/page");
});
