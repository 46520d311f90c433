import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BackoffPolicy, Ordering, type SubscriptionSpec, SubscriptionSpecSchema } from "@dispatch/proto";
import test from "ava";
import { InvalidArgumentError } from "commander";
import { UsageError } from "../errors.js";
import { parseFilterFile } from "./filter-file.js";
import {
  applySubscriptionFlags,
  hasSubscriptionChanges,
  newSubscriptionSpec,
  parseFromFlag,
  type SubscriptionFlags,
} from "./subscription-flags.js";

const json = (spec: SubscriptionSpec) => toJson(SubscriptionSpecSchema, spec) as JsonObject;

/** What `create subscription NAME FUNCTION` sends for these flags. */
function created(flags: SubscriptionFlags, file?: string): SubscriptionSpec {
  const spec = newSubscriptionSpec("ship-order");
  applySubscriptionFlags(spec, flags, file === undefined ? undefined : parseFilterFile(file, "filters.yaml"));
  return spec;
}

/** A subscription as `apply` might have left it: filters of several kinds, a delivery, ordered. */
function existing(): SubscriptionSpec {
  return create(SubscriptionSpecSchema, {
    function: "audit",
    filters: [
      { dialect: { case: "exact", value: { attributes: { type: "order.created", subject: "eu" } } } },
      { dialect: { case: "prefix", value: { attributes: { source: "/shop" } } } },
      { dialect: { case: "sql", value: "INT(amount) > 10" } },
    ],
    delivery: {
      retries: 7,
      backoff: { policy: BackoffPolicy.LINEAR, delay: { seconds: 2n } },
      deadLetter: "drop",
      concurrency: 8,
    },
    startFrom: { position: { case: "all", value: true } },
    ordering: Ordering.UNORDERED,
  });
}

test("create without flags: every event, three retries, exponential from 1s, dead letters kept, from now", (t) => {
  t.deepEqual(json(created({})), {
    function: "ship-order",
    delivery: {
      retries: 3,
      backoff: { policy: "BACKOFF_POLICY_EXPONENTIAL", delay: "1s" },
      deadLetter: "store",
    },
    startFrom: { new: true },
    ordering: "ORDERING_UNORDERED",
  });
});

test("create: the filter flags and the filter file all go into filters (all must match)", (t) => {
  const spec = created(
    { eventType: "order.created", source: "/shop", filter: "INT(amount) > 100", filterFile: "filters.yaml" },
    "- suffix: {subject: .png}\n",
  );
  t.deepEqual(json(spec).filters, [
    { suffix: { attributes: { subject: ".png" } } },
    { exact: { attributes: { type: "order.created", source: "/shop" } } },
    { sql: "INT(amount) > 100" },
  ]);
  t.deepEqual(json(created({ typePrefix: "com.example." })).filters, [
    { prefix: { attributes: { type: "com.example." } } },
  ]);
});

test("create: delivery, start and ordering flags set their fields", (t) => {
  const spec = created({
    maxRetries: 0,
    backoff: "linear",
    backoffDelay: 500,
    backoffMax: 300_000,
    deliveryTimeout: 30_000,
    deadLetter: false,
    from: parseFromFlag("2025-06-01T12:00:00Z"),
    ordered: true,
  });
  t.deepEqual(json(spec), {
    function: "ship-order",
    delivery: {
      backoff: { policy: "BACKOFF_POLICY_LINEAR", delay: "0.500s", max: "300s" },
      timeout: "30s",
      deadLetter: "drop",
    },
    startFrom: { time: "2025-06-01T12:00:00Z" },
    ordering: "ORDERING_ORDERED",
  });
  t.is(created({ concurrency: 64 }).delivery?.concurrency, 64);
  t.is(created({ from: parseFromFlag("all") }).startFrom?.position.case, "all");
});

test("update: a delivery flag changes its field and keeps the rest", (t) => {
  const spec = existing();
  applySubscriptionFlags(spec, { maxRetries: 1 });
  const expected = existing();
  if (expected.delivery) expected.delivery.retries = 1;
  t.deepEqual(json(spec), json(expected));

  const again = existing();
  applySubscriptionFlags(again, { backoffMax: 60_000, deadLetter: true });
  t.deepEqual(json(again).delivery, {
    retries: 7,
    backoff: { policy: "BACKOFF_POLICY_LINEAR", delay: "2s", max: "60s" },
    deadLetter: "store",
    concurrency: 8,
  });
  t.deepEqual(json(again).filters, json(existing()).filters, "filters are kept");
});

test("update: a filter flag replaces the filter on its attribute and keeps the others", (t) => {
  const source = existing();
  applySubscriptionFlags(source, { source: "/billing" });
  t.deepEqual(json(source).filters, [
    { exact: { attributes: { type: "order.created", subject: "eu", source: "/billing" } } },
    { sql: "INT(amount) > 10" },
  ]);

  const prefix = existing();
  applySubscriptionFlags(prefix, { typePrefix: "order." });
  t.deepEqual(json(prefix).filters, [
    { exact: { attributes: { subject: "eu" } } },
    { prefix: { attributes: { source: "/shop" } } },
    { sql: "INT(amount) > 10" },
    { prefix: { attributes: { type: "order." } } },
  ]);

  const sql = existing();
  applySubscriptionFlags(sql, { filter: "subject = 'us'" });
  t.deepEqual((json(sql).filters as JsonObject[]).slice(-1), [{ sql: "subject = 'us'" }]);
  t.is(sql.filters.filter((f) => f.dialect.case === "sql").length, 1, "the old SQL filter went");
});

test("update: --filter-file and --all-events replace every filter", (t) => {
  const file = existing();
  applySubscriptionFlags(
    file,
    { filterFile: "f.yaml", eventType: "x" },
    parseFilterFile("- sql: a = 1\n", "f"),
  );
  t.deepEqual(json(file).filters, [{ sql: "a = 1" }, { exact: { attributes: { type: "x" } } }]);
  const all = existing();
  applySubscriptionFlags(all, { allEvents: true });
  t.deepEqual(all.filters, []);
  t.is(all.delivery?.retries, 7);
});

test("update: a subscription without a delivery gets the defaults before the flag, not zero retries", (t) => {
  const spec = create(SubscriptionSpecSchema, { function: "audit" });
  applySubscriptionFlags(spec, { backoffDelay: 2000 });
  t.deepEqual(json(spec).delivery, {
    retries: 3,
    backoff: { policy: "BACKOFF_POLICY_EXPONENTIAL", delay: "2s" },
    deadLetter: "store",
  });
});

test("update: --ordered keeps a concurrency (unused while ordered); --no-ordered uses it again", (t) => {
  const spec = existing();
  applySubscriptionFlags(spec, { ordered: true });
  t.is(spec.ordering, Ordering.ORDERED);
  t.is(spec.delivery?.concurrency, 8);
  applySubscriptionFlags(spec, { ordered: false, concurrency: 4 });
  t.is(spec.ordering, Ordering.UNORDERED);
  t.is(spec.delivery?.concurrency, 4);
});

test("flags that contradict each other or the subscription are usage errors", (t) => {
  const cases: [SubscriptionFlags, RegExp, SubscriptionSpec?][] = [
    [{ eventType: "a", typePrefix: "b" }, /give --event-type or --type-prefix, not both/],
    [{ ordered: true, concurrency: 4 }, /--ordered delivers one event at a time: leave out --concurrency/],
    [
      { concurrency: 4 },
      /delivers in order, one event at a time: --concurrency 4 needs --no-ordered too/,
      create(SubscriptionSpecSchema, { ordering: Ordering.ORDERED }),
    ],
    [
      { backoffDelay: 10_000, backoffMax: 5000 },
      /--backoff-max 5s\) is shorter than the first one \(--backoff-delay 10s/,
    ],
    [{ backoffMax: 500 }, /--backoff-max 500ms\) is shorter than the first one \(--backoff-delay 1s/],
    [{ allEvents: true, source: "/shop" }, /--all-events removes every filter/],
    [{ allEvents: true, filterFile: "f.yaml" }, /give --all-events or --filter-file, not both/],
  ];
  for (const [flags, message, spec] of cases) {
    t.throws(
      () =>
        applySubscriptionFlags(spec ?? newSubscriptionSpec("f"), flags, flags.filterFile ? [] : undefined),
      {
        instanceOf: UsageError,
        message,
      },
    );
  }
  t.notThrows(() => applySubscriptionFlags(newSubscriptionSpec("f"), { ordered: true, concurrency: 1 }));
});

test("--from: now, all, or an RFC 3339 time; anything else says what it takes", (t) => {
  t.deepEqual(parseFromFlag("now"), { case: "new", value: true });
  t.deepEqual(parseFromFlag("ALL"), { case: "all", value: true });
  t.deepEqual(parseFromFlag("2025-06-01T14:00:00+02:00"), {
    case: "time",
    value: timestampFromDate(new Date("2025-06-01T12:00:00Z")),
  });
  for (const bad of ["yesterday", "2025-06-01", "2025-06-01T12:00:00", ""]) {
    t.throws(
      () => parseFromFlag(bad),
      { instanceOf: InvalidArgumentError, message: /use now .*all .*RFC 3339/ },
      bad,
    );
  }
});

test("hasSubscriptionChanges: any flag given, including false ones", (t) => {
  t.false(hasSubscriptionChanges({}));
  t.true(hasSubscriptionChanges({ deadLetter: false }));
  t.true(hasSubscriptionChanges({ maxRetries: 0 }));
});
