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
