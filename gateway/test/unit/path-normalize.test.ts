import test from "ava";
import { normalizePath } from "../../src/route-table/path-normalize.js";

const all = { normalize: true, mergeSlashes: true, escapedSlashes: "keep" as const };

test("paths: dot segments are resolved (also spelled %2E) so /a/../admin is /admin", (t) => {
  t.deepEqual(normalizePath("/a/../admin", all), { kind: "ok", path: "/admin" });
  t.deepEqual(normalizePath("/a/%2e%2E/admin?x=/../y", all), { kind: "ok", path: "/admin?x=/../y" });
  t.deepEqual(normalizePath("/../../etc", all), { kind: "ok", path: "/etc" });
  t.deepEqual(normalizePath("/a/./b/.", all), { kind: "ok", path: "/a/b/" });
});

test("paths: unreserved escapes are decoded, other escapes upper-cased, slashes merged", (t) => {
  t.deepEqual(normalizePath("/%7euser/%41%2f", { ...all, escapedSlashes: "keep" }), {
    kind: "ok",
    path: "/~user/A%2F",
  });
  t.deepEqual(normalizePath("//a///b", all), { kind: "ok", path: "/a/b" });
  t.deepEqual(normalizePath("//a///b", { ...all, mergeSlashes: false, normalize: false }), {
    kind: "ok",
    path: "//a///b",
  });
});

test("paths: escaped slashes are kept, refused, or unescaped (and redirected) as configured", (t) => {
  t.is(normalizePath("/a%2Fb", { ...all, escapedSlashes: "reject" }).kind, "reject");
  t.deepEqual(normalizePath("/a%2Fb", { ...all, escapedSlashes: "unescape-and-forward" }), {
    kind: "ok",
    path: "/a/b",
  });
  t.deepEqual(normalizePath("/a%2fb?q", { ...all, escapedSlashes: "unescape-and-redirect" }), {
    kind: "redirect",
    path: "/a/b?q",
  });
  t.is(normalizePath("http://x/", all).kind, "reject");
});

test("paths: a path already normal is kept as sent, dots inside segments and the query included", (t) => {
  for (const path of [
    "/",
    "/hello",
    "/a/b/",
    "/.well-known/openid-configuration",
    "/a..b/...c/x.",
    "/v1/items;matrix=1/:id@x",
    "/?q=/../x//y%2F",
    "/a/b?x=1#frag/../z",
  ]) {
    t.deepEqual(normalizePath(path, all), { kind: "ok", path }, path);
    t.deepEqual(normalizePath(path, { ...all, escapedSlashes: "reject" }), { kind: "ok", path }, path);
  }
});

test("paths: dot segments, empty segments and escapes anywhere in the path are still normalized", (t) => {
  t.deepEqual(normalizePath("/a/b/..", all), { kind: "ok", path: "/a/" });
  t.deepEqual(normalizePath("/a/.?q", all), { kind: "ok", path: "/a/?q" });
  t.deepEqual(normalizePath("/..", all), { kind: "ok", path: "/" });
  t.deepEqual(normalizePath("/a/b//", all), { kind: "ok", path: "/a/b/" });
  t.deepEqual(normalizePath("/a//b", { ...all, mergeSlashes: false }), { kind: "ok", path: "/a//b" });
  t.deepEqual(normalizePath("/a\\..\\b", all), { kind: "ok", path: "/b" });
  t.deepEqual(normalizePath("/x/%61", all), { kind: "ok", path: "/x/a" });
  t.deepEqual(normalizePath("/x/..", { normalize: false, mergeSlashes: false, escapedSlashes: "keep" }), {
    kind: "ok",
    path: "/x/..",
  });
});
