import test from "ava";
import { checkPath, regexProblem } from "../src/endpoint-paths.js";
import { orgPrefixOf } from "../src/endpoint-routes.js";

test("paths: exact, prefix and regex, at the root and under an org", (t) => {
  t.deepEqual(checkPath("/hello", undefined), { ok: true, match: { kind: "exact", path: "/hello" } });
  t.deepEqual(checkPath("/hello/*", undefined), { ok: true, match: { kind: "prefix", prefix: "/hello/" } });
  t.deepEqual(checkPath("/*", undefined), { ok: true, match: { kind: "prefix", prefix: "/" } });
  t.deepEqual(checkPath("/*", "/acme"), { ok: true, match: { kind: "prefix", prefix: "/acme/" } });
  t.deepEqual(checkPath("~^/items/[0-9]+$", undefined), {
    ok: true,
    match: { kind: "regex", regex: "^/items/[0-9]+$" },
  });
  t.deepEqual(checkPath("~^/items/[0-9]+$", "/acme"), {
    ok: true,
    match: { kind: "regex", regex: "/acme(?:/items/[0-9]+)" },
  });
  t.deepEqual(checkPath("~/a[$^]b\\$", "/acme"), {
    ok: true,
    match: { kind: "regex", regex: "/acme(?:/a[$^]b\\$)" },
  });
  // Who is served under a prefix: another org without hosts.
  t.is(orgPrefixOf("acme", false), "/acme");
  t.is(orgPrefixOf("acme", true), undefined);
  t.is(orgPrefixOf("default", false), undefined);
});

test("paths: what can never match is refused with the reason", (t) => {
  const message = (p: string, orgPrefix?: string) => {
    const checked = checkPath(p, orgPrefix);
    return checked.ok ? "" : checked.message;
  };
  t.regex(message("hello"), /must start with "\/"/);
  t.regex(message("/a b"), /characters a route cannot match/);
  t.regex(message("/a?x=1"), /characters a route cannot match/);
  t.regex(message("/a%20b"), /characters a route cannot match/);
  t.regex(message("/a/*/b"), /"\*" is only allowed at the end/);
  t.regex(message("/a//b"), /not a normalized path/);
  t.regex(message("/a//*"), /not a normalized path/);
  t.regex(message("/a/../b"), /not a normalized path/);
  t.regex(message("~"), /no regular expression after it/);
  t.regex(message("~(?<=a)b"), /cannot be used: .*RE2/);
  t.regex(message("~a\\1"), /cannot be used: .*RE2/);
  t.regex(message("~^/a|^/b", "/acme"), /may only begin and end it/);
  t.is(message("~^/a|^/b"), "", "at the root, anchors anywhere are the author's business");
  t.regex(message(`/${"a".repeat(2000)}`), /is 2001 characters; the limit is 1024/);
});

test("paths: a regex Envoy would find too complex is refused, under an org too", (t) => {
  t.is(regexProblem("^/items/[0-9]+$"), undefined);
  t.regex(
    regexProblem("[a-z]{1,200}") ?? "",
    /too large: its RE2 program has \d+ instructions; the limit is 100/,
  );
  // Small enough alone, too large with the org's prefix in front.
  const nearLimit = (() => {
    for (let n = 1; n < 100; n++) {
      const regex = `/${"[a-z]".repeat(n)}`;
      if (regexProblem(regex) === undefined && regexProblem(`/acme(?:${regex})`) !== undefined) return regex;
    }
    return undefined;
  })();
  if (!nearLimit) return t.fail("no regex near the limit");
  t.true(checkPath(`~${nearLimit}`, undefined).ok);
  const under = checkPath(`~${nearLimit}`, "/acme");
  t.false(under.ok);
  t.regex(under.ok ? "" : under.message, /under "\/acme" is too large/);
});
