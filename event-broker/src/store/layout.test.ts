import { create } from "@bufbuild/protobuf";
import { type Filter, FilterSchema } from "@dispatch/proto";
import test from "ava";
import { compileFilters } from "../filters/filters.js";
import {
  brokerSubjects,
  consumerName,
  deadLetterStreamName,
  deadLetterSubject,
  dedupId,
  escapeToken,
  eventSubject,
  filterSubject,
  isConsumerOf,
  streamName,
} from "./layout.js";

/** What NATS takes as one subject token: not empty, no `.`, no wildcard, no whitespace or control character. */
function isNatsToken(token: string): boolean {
  return (
    token !== "" &&
    [...token].every((c) => c.charCodeAt(0) > 0x20 && c.charCodeAt(0) !== 0x7f && !".*>".includes(c))
  );
}

/** The inverse of escapeToken, written from its doc comment: if it gives every part back, no two parts share a token. */
function unescapeToken(token: string): string {
  if (token === "_") return "";
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "_") {
      bytes.push(Number.parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** NATS subject matching: `*` is one token, a final `>` one or more. */
function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split(".");
  const s = subject.split(".");
  for (const [i, token] of f.entries()) {
    if (token === ">") return s.length > i;
    if (i >= s.length || (token !== "*" && token !== s[i])) return false;
  }
  return f.length === s.length;
}

const parts = [
  "",
  "_",
  "__",
  "_5F",
  "_41",
  "A",
  "a",
  "Z9-",
  "-",
  "order",
  "*",
  ">",
  " ",
  "\t",
  "$",
  "%",
  "a b",
  "é",
  "e\u0301",
  "€",
  "😀",
  "\u0000",
  "ÿ",
  "中文",
  "x".repeat(200),
];

test("escapeToken: every part, the empty one too, is one valid NATS subject token", (t) => {
  for (const part of parts) {
    const token = escapeToken(part);
    t.true(isNatsToken(token), JSON.stringify(part));
    t.regex(token, /^[A-Za-z0-9_-]+$/, JSON.stringify(part));
  }
});

test("escapeToken: one-to-one (each token gives its part back; no two parts share a token)", (t) => {
  const seen = new Map<string, string>();
  for (const part of parts) {
    const token = escapeToken(part);
    t.is(unescapeToken(token), part, JSON.stringify(part));
    t.is(seen.get(token), undefined, `${JSON.stringify(part)} and ${JSON.stringify(seen.get(token))}`);
    seen.set(token, part);
  }
});

test("escapeToken: letters, digits and '-' stay; any other byte is _XX of its UTF-8; the empty part is _", (t) => {
  t.is(escapeToken("Order-42"), "Order-42");
  t.is(escapeToken(""), "_");
  t.is(escapeToken("_"), "_5F");
  t.is(escapeToken("a b"), "a_20b");
  t.is(escapeToken("€"), "_E2_82_AC");
  t.is(escapeToken("😀"), "_F0_9F_98_80");
});

test("eventSubject: the type split on '.', each part a token (empty parts too)", (t) => {
  t.is(eventSubject("acme", "default", "com.example.created"), "ev.acme.default.com.example.created");
  t.is(eventSubject("acme", "default", "a..b"), "ev.acme.default.a._.b");
  t.is(eventSubject("acme", "default", "."), "ev.acme.default._._");
  t.is(eventSubject("acme", "default", "com.ex*.>"), "ev.acme.default.com.ex_2A._3E");
  t.true(subjectMatches(brokerSubjects("acme", "default"), eventSubject("acme", "default", "x")));
  t.false(subjectMatches(brokerSubjects("acme", "default"), eventSubject("acme", "other", "x")));
});

test("stream, dead-letter and subject names", (t) => {
  t.is(streamName("acme", "default"), "EVENTS_acme_default");
  t.is(brokerSubjects("acme", "default"), "ev.acme.default.>");
  t.is(deadLetterStreamName("acme"), "DEADLETTERS_acme");
  t.is(deadLetterSubject("acme", "orders"), "dl.acme.orders");
});

const exact = (attributes: Record<string, string>): Filter =>
  create(FilterSchema, { dialect: { case: "exact", value: { attributes } } });
const prefix = (attributes: Record<string, string>): Filter =>
  create(FilterSchema, { dialect: { case: "prefix", value: { attributes } } });
const suffix = (attributes: Record<string, string>): Filter =>
  create(FilterSchema, { dialect: { case: "suffix", value: { attributes } } });
const all = (...filters: Filter[]): Filter =>
  create(FilterSchema, { dialect: { case: "all", value: { filters } } });
const any = (...filters: Filter[]): Filter =>
  create(FilterSchema, { dialect: { case: "any", value: { filters } } });
const not = (filter: Filter): Filter => create(FilterSchema, { dialect: { case: "not", value: filter } });
const sql = (expression: string): Filter =>
  create(FilterSchema, { dialect: { case: "sql", value: expression } });

const everything = "ev.o.b.>";

const subjectCases: [string, Filter[], string][] = [
  ["no filters", [], everything],
  ["an exact type", [exact({ type: "com.example.created" })], "ev.o.b.com.example.created"],
  ["an exact type with escapes", [exact({ type: "com.ex ample" })], "ev.o.b.com.ex_20ample"],
  ["an exact filter without type", [exact({ source: "/orders" })], everything],
  ["an exact type beside another attribute", [exact({ type: "a.b", source: "/s" })], "ev.o.b.a.b"],
  ["a type prefix: its whole tokens only", [prefix({ type: "com.example.or" })], "ev.o.b.com.example.>"],
  ["a type prefix ending in '.'", [prefix({ type: "com.example." })], "ev.o.b.com.example.>"],
  ["a type prefix of one partial token", [prefix({ type: "com" })], everything],
  ["a type prefix with escapes", [prefix({ type: "a b.c" })], "ev.o.b.a_20b.>"],
  ["a prefix on another attribute", [prefix({ source: "/orders/" })], everything],
  ["an exact type inside all", [all(exact({ source: "/s" }), exact({ type: "a.b" }))], "ev.o.b.a.b"],
  ["a prefix inside all inside all", [all(all(prefix({ type: "a.b.c" })))], "ev.o.b.a.b.>"],
  ["an exact type inside any", [any(exact({ type: "a.b" }))], everything],
  ["either of two exact types (any)", [any(exact({ type: "a.b" }), exact({ type: "c.d" }))], everything],
  ["an exact type inside not", [not(exact({ type: "a.b" }))], everything],
  ["a prefix inside not inside all", [all(not(prefix({ type: "a.b.c" })))], everything],
  ["a type suffix", [suffix({ type: "a.b" })], everything],
  ["a sql filter on type", [sql("type = 'a.b'")], everything],
  [
    "exact beats a prefix (prefix first)",
    [prefix({ type: "a.b.c" }), exact({ type: "a.b.c.d" })],
    "ev.o.b.a.b.c.d",
  ],
  [
    "exact beats a prefix (exact first)",
    [exact({ type: "a.b.c.d" }), prefix({ type: "a.b.c" })],
    "ev.o.b.a.b.c.d",
  ],
  ["the longer of two prefixes", [prefix({ type: "a.x" }), prefix({ type: "a.b.c" })], "ev.o.b.a.b.>"],
  ["a sql filter beside a prefix", [sql("source = '/s'"), prefix({ type: "a.b" })], "ev.o.b.a.>"],
];

for (const [name, filters, subject] of subjectCases) {
  test(`filterSubject: ${name}`, (t) => {
    t.is(filterSubject("o", "b", filters), subject);
  });
}

test("filterSubject: every event the filters match is on the consumer's subject", (t) => {
  const types = [
    "com.example.order.created",
    "com.example.order",
    "com.example.or",
    "com.example.",
    "com.example",
    "com",
    "commerce.x",
    "a.b",
    "a.b.c",
    "a.b.c.d",
    "a.bc",
    "a b.c",
    "a..b",
    ".",
    "x.€.y",
  ];
  const filterSets: Filter[][] = [
    ...subjectCases.map(([, filters]) => filters),
    [prefix({ type: "com.example." })],
    [prefix({ type: "com.example.order" })],
    [prefix({ type: "a." })],
    [prefix({ type: "a.b" })],
    [prefix({ type: "x.€" })],
    [exact({ type: "a..b" })],
    [exact({ type: "." })],
  ];
  let checked = 0;
  for (const filters of filterSets) {
    const matches = compileFilters(filters);
    const subject = filterSubject("o", "b", filters);
    for (const type of types) {
      if (!matches({ id: "1", source: "/s", specversion: "1.0", type })) continue;
      checked++;
      t.true(
        subjectMatches(subject, eventSubject("o", "b", type)),
        `type ${JSON.stringify(type)} is not on ${subject}`,
      );
    }
  }
  t.true(checked > 20);
});

test("dedupId: source and id joined so that no two pairs collide", (t) => {
  t.not(dedupId("a", "bc"), dedupId("ab", "c"));
  t.not(dedupId("", "ab"), dedupId("ab", ""));
  t.not(dedupId("/s", "1"), dedupId("/s", "2"));
  t.is(dedupId("/s", "1"), dedupId("/s", "1"));
  t.regex(dedupId("/söurce", "€"), /^[A-Za-z0-9_-]{43}$/);
});

test("consumerName: one per subscription and subject, a valid JetStream consumer name", (t) => {
  const a = consumerName("orders", "ev.o.b.>");
  t.is(a, consumerName("orders", "ev.o.b.>"));
  t.not(a, consumerName("orders", "ev.o.b.com.>"));
  t.not(a, consumerName("orders-2", "ev.o.b.>"));
  t.regex(a, /^sub-orders-[0-9a-f]{12}$/);
});

test("isConsumerOf: a consumer belongs to its own subscription, not to one whose name is a prefix of it", (t) => {
  const subjects = ["ev.o.b.>", "ev.o.b.a.>"];
  const subscriptions = ["a", "a-b", "a-bc", "ab", "b", "a-b-c"];
  for (const owner of subscriptions) {
    for (const subject of subjects) {
      const consumer = consumerName(owner, subject);
      for (const other of subscriptions) {
        t.is(isConsumerOf(consumer, other), owner === other, `${consumer} of ${other}`);
      }
    }
  }
  t.false(isConsumerOf("sub-a", "a"));
  t.false(isConsumerOf("sub-a-", "a"));
  t.false(isConsumerOf("other-a-0123456789ab", "a"));
});
