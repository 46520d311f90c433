import test from "ava";
import {
  describeClaim,
  findRouteConflict,
  parsePath,
  RouteClaimIndex,
  routeClaims,
  servedPath,
} from "../src/endpoint-routes.js";

const endpoint = (
  org: string,
  name: string,
  spec: { paths: string[]; methods?: string[]; hosts?: string[] },
) => ({
  meta: { org, name },
  spec: { paths: spec.paths, methods: spec.methods ?? [], hosts: spec.hosts ?? [] },
});

test("paths: exact, prefix and regex", (t) => {
  t.deepEqual(parsePath("/hello"), { kind: "exact", path: "/hello" });
  t.deepEqual(parsePath("/hello/*"), { kind: "prefix", prefix: "/hello/" });
  t.deepEqual(parsePath("~^/items/[0-9]+$"), { kind: "regex", regex: "^/items/[0-9]+$" });
});

test("the default org is served at its paths, other orgs under /<org>, and hosts keep paths as given", (t) => {
  t.deepEqual(servedPath("default", false, parsePath("/hello")), { kind: "exact", path: "/hello" });
  t.deepEqual(servedPath("acme", false, parsePath("/hello")), { kind: "exact", path: "/acme/hello" });
  t.deepEqual(servedPath("acme", false, parsePath("/hello/*")), { kind: "prefix", prefix: "/acme/hello/" });
  t.deepEqual(servedPath("acme", true, parsePath("/hello")), { kind: "exact", path: "/hello" });
  // Anchors go, and an alternation stays inside the org's prefix.
  t.deepEqual(servedPath("acme", false, parsePath("~^/a|/b$")), { kind: "regex", regex: "/acme(?:/a|/b)" });
  // An escaped dollar at the end is part of the expression.
  t.deepEqual(servedPath("acme", false, parsePath("~/price\\$")), {
    kind: "regex",
    regex: "/acme(?:/price\\$)",
  });
});

test("claims: every host × method × path, with * for any", (t) => {
  const claims = routeClaims(
    endpoint("default", "a", { paths: ["/x", "/y/*"], methods: ["get"], hosts: ["A.example.com"] }),
  );
  t.deepEqual(claims, [
    { host: "a.example.com", method: "GET", path: "=/x" },
    { host: "a.example.com", method: "GET", path: "^/y/" },
  ]);
  t.is(describeClaim(claims[1] as never), "GET, host a.example.com, paths under /y/");
  t.is(
    describeClaim(routeClaims(endpoint("acme", "b", { paths: ["/x"] }))[0] as never),
    "any method, any host, path /acme/x",
  );
});

test("conflicts: the same route, a method in common, across orgs through the /<org> prefix", (t) => {
  const a = endpoint("default", "a", { paths: ["/hello"], methods: ["GET"] });
  t.is(
    findRouteConflict(endpoint("default", "b", { paths: ["/hello"] }), [a])?.other,
    a,
    "no methods: all of them",
  );
  t.is(findRouteConflict(endpoint("default", "b", { paths: ["/hello"], methods: ["POST"] }), [a]), undefined);
  t.is(
    findRouteConflict(endpoint("default", "b", { paths: ["/hello/*"] }), [a]),
    undefined,
    "overlap is not conflict",
  );
  t.is(findRouteConflict(endpoint("default", "b", { paths: ["/hello"], hosts: ["x.io"] }), [a]), undefined);
  t.is(findRouteConflict(endpoint("default", "a", { paths: ["/hello"] }), [a]), undefined, "itself");
  const acme = endpoint("acme", "hello", { paths: ["/hello"] });
  t.is(findRouteConflict(endpoint("default", "squat", { paths: ["/acme/hello"] }), [acme])?.other, acme);
  t.is(findRouteConflict(endpoint("other", "hello", { paths: ["/hello"] }), [acme]), undefined);
  const hosted = endpoint("acme", "h", { paths: ["/hello"], hosts: ["api.example.com"] });
  t.is(
    findRouteConflict(endpoint("other", "h", { paths: ["/hello"], hosts: ["api.example.com"] }), [hosted])
      ?.other,
    hosted,
  );
});

test("the claim index: a changed endpoint gives up its old routes, a deleted one all of them, counted per org", (t) => {
  const index = new RouteClaimIndex<ReturnType<typeof endpoint>>();
  const a = endpoint("default", "a", { paths: ["/hello", "/hi"], methods: ["GET", "POST"] });
  index.set(a);
  index.set(endpoint("acme", "b", { paths: ["/x"] }));
  t.is(index.count("default"), 1);
  t.is(index.count("acme"), 1);
  t.is(index.count("other"), 0);
  const candidate = endpoint("default", "c", { paths: ["/hi"] });
  t.deepEqual(index.conflict(candidate), {
    other: a,
    claim: { host: "*", method: "GET", path: "=/hi" },
  });
  t.is(index.conflict(endpoint("default", "c", { paths: ["/hi"], methods: ["PUT"] })), undefined);

  // a moves off /hi: the path is free, and a is still counted once.
  index.set(endpoint("default", "a", { paths: ["/hello"], methods: ["GET"] }));
  t.is(index.conflict(candidate), undefined);
  t.is(index.count("default"), 1);
  t.is(index.conflict(endpoint("default", "c", { paths: ["/hello"] }))?.other.meta.name, "a");

  index.delete("default", "a");
  t.is(index.conflict(endpoint("default", "c", { paths: ["/hello"] })), undefined);
  t.is(index.count("default"), 0);
  index.delete("default", "a");
  t.is(index.count("default"), 0, "deleting twice changes nothing");
});
