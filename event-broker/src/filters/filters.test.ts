import { create } from "@bufbuild/protobuf";
import { type Filter, FilterSchema } from "@dispatch/proto";
import test from "ava";
import { compileFilters, type FilterProblem, filterProblems, maxFilterDepth } from "./filters.js";

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
const none = (): Filter => create(FilterSchema);

/** `depth` filters, each but the innermost a `not` of the next. */
function nested(depth: number): Filter {
  let filter = exact({ type: "t" });
  for (let i = 1; i < depth; i++) filter = not(filter);
  return filter;
}

const attributeNameMessage = "is not a CloudEvents attribute name (1 to 20 lowercase letters and digits)";

const problemCases: [string, Filter[], FilterProblem[]][] = [
  ["no filters", [], []],
  [
    "every dialect, valid",
    [
      exact({ type: "a" }),
      prefix({ source: "/s" }),
      suffix({ subject: ".png" }),
      all(exact({ a: "1" })),
      any(exact({ a: "1" })),
      not(exact({ a: "1" })),
      sql("type LIKE 'a.%'"),
    ],
    [],
  ],
  [
    "a filter with no dialect",
    [none()],
    [{ path: "filters[0]", message: "names no dialect (use exact, prefix, suffix, all, any, not or sql)" }],
  ],
  [
    "exact with no attribute",
    [exact({})],
    [
      {
        path: "filters[0].exact",
        message: 'needs at least one attribute (e.g. {"type": "com.example.created"})',
      },
    ],
  ],
  [
    "prefix on a name that is not an attribute name",
    [prefix({ Type: "x" })],
    [{ path: "filters[0].prefix.Type", message: attributeNameMessage }],
  ],
  [
    "suffix on a name of 21 characters",
    [suffix({ x23456789012345678901: "x" })],
    [{ path: "filters[0].suffix.x23456789012345678901", message: attributeNameMessage }],
  ],
  [
    "an empty exact value",
    [exact({ type: "" })],
    [{ path: "filters[0].exact.type", message: "must not be empty" }],
  ],
  [
    "an empty prefix value",
    [prefix({ type: "" })],
    [{ path: "filters[0].prefix.type", message: "must not be empty" }],
  ],
  [
    "an empty suffix value",
    [suffix({ type: "" })],
    [{ path: "filters[0].suffix.type", message: "must not be empty" }],
  ],
  ["an empty all", [all()], [{ path: "filters[0].all", message: "needs at least one filter" }]],
  ["an empty any", [any()], [{ path: "filters[0].any", message: "needs at least one filter" }]],
  [
    "a problem inside any, under its index",
    [exact({ type: "a" }), any(exact({ type: "a" }), exact({}))],
    [
      {
        path: "filters[1].any[1].exact",
        message: 'needs at least one attribute (e.g. {"type": "com.example.created"})',
      },
    ],
  ],
  [
    "a problem inside not inside all",
    [all(not(none()))],
    [
      {
        path: "filters[0].all[0].not",
        message: "names no dialect (use exact, prefix, suffix, all, any, not or sql)",
      },
    ],
  ],
  ["an empty sql", [sql("  ")], [{ path: "filters[0].sql", message: "must not be empty" }]],
  [
    "every problem at once",
    [exact({ "a-b": "1", c: "" }), all(), sql("")],
    [
      { path: "filters[0].exact.a-b", message: attributeNameMessage },
      { path: "filters[0].exact.c", message: "must not be empty" },
      { path: "filters[1].all", message: "needs at least one filter" },
      { path: "filters[2].sql", message: "must not be empty" },
    ],
  ],
];

for (const [name, filters, expected] of problemCases) {
  test(`filterProblems: ${name}`, (t) => {
    t.deepEqual(filterProblems(filters), expected);
  });
}

test("filterProblems: a CESQL expression that does not compile says why, with the column", (t) => {
  const problems = filterProblems([sql("type = 'a' AND")]);
  t.is(problems.length, 1);
  t.is(problems[0]?.path, "filters[0].sql");
  t.regex(problems[0]?.message ?? "", /^is not a valid CESQL expression: at column \d+: /);
  const [missing] = filterProblems([any(sql("NOSUCH(type)"))]);
  t.is(missing?.path, "filters[0].any[0].sql");
  t.regex(missing?.message ?? "", /^is not a valid CESQL expression: .*there is no function "NOSUCH"/);
});

test("filterProblems: paths start where the caller says", (t) => {
  t.deepEqual(filterProblems([exact({ type: "a" }), all()], "spec.filters"), [
    { path: "spec.filters[1].all", message: "needs at least one filter" },
  ]);
});

test(`filterProblems: filters nest ${maxFilterDepth} levels deep, not more`, (t) => {
  t.deepEqual(filterProblems([nested(maxFilterDepth)]), []);
  const path = `filters[0]${".not".repeat(maxFilterDepth)}`;
  t.deepEqual(filterProblems([nested(maxFilterDepth + 1)]), [
    { path, message: `nests deeper than ${maxFilterDepth} levels` },
  ]);
  t.deepEqual(filterProblems([nested(10_000)]), [
    { path, message: `nests deeper than ${maxFilterDepth} levels` },
  ]);
});

test("filterProblems: the attribute name __proto__ is refused", (t) => {
  const attributes = JSON.parse('{"__proto__": "x"}') as Record<string, string>;
  t.deepEqual(filterProblems([exact(attributes)]), [
    { path: "filters[0].exact.__proto__", message: attributeNameMessage },
  ]);
});

test("compileFilters: a filter with a problem throws, naming where and what", (t) => {
  t.throws(() => compileFilters([exact({ type: "a" }), any()]), {
    message: "filters[1].any needs at least one filter",
  });
});

const event = {
  id: "1",
  source: "/orders/eu",
  type: "com.example.order.created",
  specversion: "1.0",
  region: "eu",
};

const matchCases: [string, Filter[], Record<string, string>, boolean][] = [
  ["no filters match everything", [], event, true],
  ["exact: the same value", [exact({ type: "com.example.order.created" })], event, true],
  ["exact: another value", [exact({ type: "com.example.order" })], event, false],
  ["exact: case-sensitive", [exact({ type: "COM.example.order.created" })], event, false],
  ["exact: an extension", [exact({ region: "eu" })], event, true],
  [
    "exact: every attribute it names",
    [exact({ type: "com.example.order.created", region: "us" })],
    event,
    false,
  ],
  ["exact: an attribute the event lacks", [exact({ subject: "x" })], event, false],
  ["prefix: a prefix", [prefix({ type: "com.example.or" })], event, true],
  ["prefix: the whole value", [prefix({ type: "com.example.order.created" })], event, true],
  ["prefix: not a prefix", [prefix({ type: "example" })], event, false],
  ["prefix: case-sensitive", [prefix({ source: "/Orders" })], event, false],
  ["prefix: an attribute the event lacks", [prefix({ subject: "a" })], event, false],
  ["suffix: a suffix", [suffix({ source: "/eu" })], event, true],
  ["suffix: not a suffix", [suffix({ source: "/us" })], event, false],
  ["suffix: an attribute the event lacks", [suffix({ subject: "a" })], event, false],
  ["all: every one", [all(prefix({ type: "com." }), suffix({ type: ".created" }))], event, true],
  ["all: one fails", [all(prefix({ type: "com." }), suffix({ type: ".deleted" }))], event, false],
  ["any: one matches", [any(exact({ region: "us" }), exact({ region: "eu" }))], event, true],
  ["any: none matches", [any(exact({ region: "us" }), exact({ region: "ap" }))], event, false],
  ["not: inverts", [not(exact({ region: "eu" }))], event, false],
  ["not: an attribute the event lacks", [not(exact({ subject: "x" }))], event, true],
  ["top-level filters are ANDed", [exact({ region: "eu" }), exact({ source: "/x" })], event, false],
  ["sql: true", [sql("region = 'eu' AND type LIKE 'com.%'")], event, true],
  ["sql: false", [sql("region = 'us'")], event, false],
  ["sql: an error is no match", [sql("INT(region) = 1")], event, false],
  ["sql: a missing attribute is no match", [sql("subject = 'x'")], event, false],
  ["sql: not a Boolean is no match", [sql("'true'")], event, false],
  ["sql: NOT of a missing attribute is still no match", [sql("NOT (subject = 'x')")], event, false],
  ["sql nested in not", [not(sql("region = 'us'"))], event, true],
];

for (const [name, filters, attributes, expected] of matchCases) {
  test(`compileFilters: ${name}`, (t) => {
    t.is(compileFilters(filters)(attributes), expected);
  });
}

test("compileFilters: constructor (the one lowercase name an object inherits) matches only an attribute of that name", (t) => {
  const plain = { ...event };
  t.false(compileFilters([prefix({ constructor: "function" })])(plain));
  t.false(compileFilters([suffix({ constructor: "}" })])(plain));
  t.true(compileFilters([not(exact({ constructor: "x" }))])(plain));
  t.false(compileFilters([sql("EXISTS constructor")])(plain));
  t.false(compileFilters([sql("constructor LIKE '%'")])(plain));
  t.true(compileFilters([prefix({ constructor: "f" })])({ ...event, constructor: "fn" }));
});
