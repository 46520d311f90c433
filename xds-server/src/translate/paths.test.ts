import test from "ava";
import { checkRe2, parsePath } from "./paths.js";

test("paths: exact, prefix and regex, at the root and under an org", (t) => {
  t.deepEqual(parsePath("/hello", undefined), { ok: true, match: { kind: "exact", path: "/hello" } });
  t.deepEqual(parsePath("/hello/*", undefined), { ok: true, match: { kind: "prefix", prefix: "/hello/" } });
  t.deepEqual(parsePath("/*", undefined), { ok: true, match: { kind: "prefix", prefix: "/" } });
  t.deepEqual(parsePath("/*", "/acme"), { ok: true, match: { kind: "prefix", prefix: "/acme/" } });
  t.deepEqual(parsePath("~^/items/[0-9]+$", undefined), {
    ok: true,
    match: { kind: "regex", regex: "^/items/[0-9]+$" },
  });
  t.deepEqual(parsePath("~^/items/[0-9]+$", "/acme"), {
    ok: true,
    match: { kind: "regex", regex: "/acme(?:/items/[0-9]+)" },
  });
  t.deepEqual(parsePath("~/a[$^]b\\$", "/acme"), {
    ok: true,
    match: { kind: "regex", regex: "/acme(?:/a[$^]b\\$)" },
  });
});

test("paths: what can never match is refused with the reason", (t) => {
  const message = (p: string, org?: string) => {
    const parsed = parsePath(p, org);
    return parsed.ok ? "" : parsed.message;
  };
  t.regex(message("hello"), /must start with "\/"/);
  t.regex(message("/a b"), /characters a path cannot match/);
  t.regex(message("/a?x=1"), /characters a path cannot match/);
  t.regex(message("/a/*/b"), /characters a path cannot match/);
  t.regex(message("/a//b"), /not a normalized path/);
  t.regex(message("/a//*"), /one "\/" before the "\*"/);
  t.regex(message("~(?<=a)b"), /not a regular expression RE2 accepts/);
  t.regex(message("~a\\1"), /not a regular expression RE2 accepts/);
  t.regex(message("~^/a|^/b", "/acme"), /may only begin and end it/);
  t.regex(message(`/${"a".repeat(2000)}`), /longer than 1024/);
});

test("paths: a regex Envoy would find too complex is refused", (t) => {
  t.is(checkRe2("^/items/[0-9]+$"), undefined);
  t.regex(checkRe2("[a-z]{1,200}") ?? "", /too complex/);
});
