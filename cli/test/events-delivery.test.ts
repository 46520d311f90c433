import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BackoffPolicy,
  type FilterSchema,
  Ordering,
  type Run,
  type SubscriptionSpecSchema,
} from "@dispatch/proto";
import test from "ava";
import {
  type EventsHarness,
  echoHandler,
  outputOf,
  ready,
  startEventsHarness,
  subscribe,
} from "./events-harness.js";

// Delivery as subscribers meet it: every filter dialect, retries with each
// backoff, dead letters and redelivery, replies (and their loop guard),
// replay from a time, ordered delivery, and an update that keeps the position.

let h: EventsHarness;
test.before(async () => {
  h = await startEventsHarness("events-delivery");
});
test.after.always(async () => {
  await h?.stop();
});

type FilterInit = MessageInitShape<typeof FilterSchema>;
const exact = (attributes: Record<string, string>): FilterInit => ({
  dialect: { case: "exact", value: { attributes } },
});
const prefix = (attributes: Record<string, string>): FilterInit => ({
  dialect: { case: "prefix", value: { attributes } },
});
const suffix = (attributes: Record<string, string>): FilterInit => ({
  dialect: { case: "suffix", value: { attributes } },
});
const sql = (value: string): FilterInit => ({ dialect: { case: "sql", value } });
const all = (...filters: FilterInit[]): FilterInit => ({ dialect: { case: "all", value: { filters } } });
const any = (...filters: FilterInit[]): FilterInit => ({ dialect: { case: "any", value: { filters } } });
const not = (filter: FilterInit): FilterInit => ({ dialect: { case: "not", value: filter } });

const emit = (
  events: {
    id: string;
    type: string;
    source?: string;
    subject?: string;
    extensions?: Record<string, string>;
    data?: unknown;
  }[],
) =>
  h.eventService.emit({
    events: events.map((e) => ({
      id: e.id,
      type: e.type,
      source: e.source ?? "/test",
      subject: e.subject ?? "",
      extensions: e.extensions ?? {},
      ...(e.data === undefined
        ? {}
        : {
            datacontenttype: "application/json",
            data: { case: "binaryData", value: Buffer.from(JSON.stringify(e.data)) },
          }),
    })),
  });

const ids = (runs: Run[]) => runs.map((run) => run.spec?.event?.id ?? "").sort();

test.serial("each filter dialect delivers exactly the events it matches", async (t) => {
  const events = [
    { id: "e1", type: "shop.order.created", source: "/shop/eu", subject: "orders/1.json" },
    { id: "e2", type: "shop.order.paid", source: "/shop/us", subject: "orders/2.xml" },
    {
      id: "e3",
      type: "shop.orders",
      source: "/shop/eu",
      subject: "orders/3.json",
      extensions: { priority: "high" },
    },
    { id: "e4", type: "billing.invoice", source: "/billing", subject: "invoices/4.json" },
  ];
  const cases: [string, FilterInit[], string[]][] = [
    ["f-exact", [exact({ type: "shop.order.paid" })], ["e2"]],
    // Not at a token boundary: JetStream narrows to shop.>, the dispatcher does the rest.
    ["f-prefix", [prefix({ type: "shop.order" })], ["e1", "e2", "e3"]],
    ["f-prefix-dot", [prefix({ type: "shop.order." })], ["e1", "e2"]],
    ["f-suffix", [suffix({ subject: ".json" })], ["e1", "e3", "e4"]],
    ["f-all", [all(prefix({ type: "shop." }), exact({ source: "/shop/eu" }))], ["e1", "e3"]],
    ["f-any", [any(exact({ type: "billing.invoice" }), exact({ priority: "high" }))], ["e3", "e4"]],
    ["f-not", [not(prefix({ type: "shop." }))], ["e4"]],
    ["f-sql", [sql("source LIKE '/shop/%' AND subject LIKE '%.json'")], ["e1", "e3"]],
    ["f-and", [prefix({ type: "shop." }), sql("EXISTS priority")], ["e3"]],
  ];
  for (const [name] of cases) await h.fn(name, echoHandler);
  for (const [name, filters] of cases) await subscribe(h, name, { function: name, filters });
  await emit(events);
  // A marker every subscription above except f-not and f-any... would not see; wait on what each must get.
  for (const [name, , expected] of cases) {
    const runs = await h.runs(name, expected.length);
    t.deepEqual(ids(runs), expected, name);
  }
  // Nothing more arrives later: a last event each subscription matches, then the counts again.
  await emit([
    {
      id: "last",
      type: "shop.order.created",
      source: "/shop/eu",
      subject: "x.json",
      extensions: { priority: "high" },
    },
  ]);
  const f = await h.runs("f-and", 2);
  t.deepEqual(ids(f), ["e3", "last"]);
  for (const [name, , expected] of cases.filter(([n]) => ["f-exact", "f-not"].includes(n))) {
    t.deepEqual(ids(await h.runs(name, expected.length)), expected, `${name} got nothing more`);
  }
});

/** A function that fails its first `failures` calls for each event id, then echoes. */
const flaky = (failures: number) =>
  `const seen = new Map();
module.exports = async (context) => {
  const n = (seen.get(context.event.id) ?? 0) + 1;
  seen.set(context.event.id, n);
  if (n <= ${failures}) throw new Error("attempt " + n + " fails");
  return { attempt: n };
};
`;

const startMs = (run: Run) =>
  Number(run.status?.started?.seconds ?? 0n) * 1000 + (run.status?.started?.nanos ?? 0) / 1e6;

for (const [policy, name, expectedGaps] of [
  [BackoffPolicy.LINEAR, "linear", [300, 600]],
  [BackoffPolicy.EXPONENTIAL, "exponential", [300, 600]],
] as const) {
  test.serial(`a failing delivery is retried with ${name} backoff until it succeeds`, async (t) => {
    const fn = `retry-${name}`;
    // One instance: the function's memory of attempts lives in it.
    await h.fn(fn, flaky(2), "--min-scale", "1", "--max-scale", "1");
    await subscribe(h, fn, {
      function: fn,
      filters: [exact({ type: `retry.${name}` })],
      delivery: { retries: 3, backoff: { policy, delay: { nanos: 300_000_000 } } },
    });
    await emit([{ id: `r-${name}`, type: `retry.${name}` }]);
    const runs = await h.runs(fn, 3);
    t.deepEqual(
      runs.map((run) => run.status?.error?.message ?? outputOf(run)),
      ["attempt 1 fails", "attempt 2 fails", { attempt: 3 }],
    );
    // Each retry waited at least its backoff (linear: 300, 600 ms; exponential: 300, 600 ms).
    const gaps = runs.slice(1).map((run, i) => startMs(run) - startMs(runs[i] as Run));
    for (const [i, gap] of gaps.entries())
      t.true(gap >= (expectedGaps[i] ?? 0) - 5, `retry ${i + 1} came after ${gap} ms`);
    const sub = await statusWith(fn, (s) => s.delivered === 1n);
    t.is(sub.failed, 2n);
    t.is(sub.deadLettered, 0n);
  });
}

/** Waits (watching) until a subscription's status satisfies `ok`. */
async function statusWith(
  name: string,
  ok: (status: NonNullable<Awaited<ReturnType<typeof ready>>["status"]>) => boolean,
) {
  for (;;) {
    const sub = (await h.clients.subscriptions.get({ name })).subscription;
    if (sub?.status && ok(sub.status)) return sub.status;
    // The broker refreshes figures every few seconds; look again after one.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test.serial(
  "after its last attempt an event is dead-lettered with why; redelivery sends it again once the function works",
  async (t) => {
    await h.fn("broken", 'module.exports = async () => { throw new Error("the database is down"); };\n');
    await subscribe(h, "dl", {
      function: "broken",
      filters: [exact({ type: "dl.test" })],
      delivery: { retries: 1, backoff: { delay: { nanos: 100_000_000 } } },
    });
    await emit([
      { id: "dl1", type: "dl.test", data: { n: 1 } },
      { id: "dl2", type: "dl.test", data: { n: 2 } },
    ]);
    await h.runs("broken", 4);
    await statusWith("dl", (s) => s.deadLettered === 2n);
    const letters = await h.eventService.listDeadLetters({ subscription: "dl" });
    t.deepEqual(letters.items.map((l) => l.event?.event?.id).sort(), ["dl1", "dl2"]);
    for (const letter of letters.items) {
      t.is(letter.attempts, 2);
      t.regex(letter.lastError, /the database is down/);
      t.is(letter.subscription, "dl");
      t.true(letter.eventSequence > 0n);
    }
    // Still broken: the redelivered one stays, with one more attempt.
    const again = await h.eventService.redeliver({ subscription: "dl", ids: ["dl1"] });
    t.is(again.delivered, 0);
    t.is(again.failed[0]?.attempts, 3);
    await h.ok("update", "function", "broken", await writeFixed(), "--wait");
    const fixed = await h.eventService.redeliver({ subscription: "dl", all: true });
    t.is(fixed.delivered, 2);
    t.deepEqual(fixed.failed, []);
    t.deepEqual((await h.eventService.listDeadLetters({ subscription: "dl" })).items, []);
    const runs = await h.runs("broken", 7);
    t.deepEqual(
      runs
        .filter((run) => run.status?.error === undefined)
        .map((run) => (outputOf(run) as { fixed: { n: number } }).fixed.n)
        .sort(),
      [1, 2],
    );
  },
);

async function writeFixed(): Promise<string> {
  const { writeFile } = await import("node:fs/promises");
  const file = `${h.dir}/broken-fixed.js`;
  await writeFile(file, "module.exports = async (context, payload) => ({ fixed: payload });\n");
  return file;
}

test.serial(
  "a function's reply event is published and routed like any event; a reply loop stops at the hop limit",
  async (t) => {
    await h.fn(
      "replier",
      'module.exports = async (context, payload) => ({ type: "reply.done", source: "/replier", data: { from: context.event.id, payload } });\n',
    );
    await h.fn("reply-sink", echoHandler);
    await subscribe(h, "on-request", { function: "replier", filters: [exact({ type: "reply.request" })] });
    await subscribe(h, "on-done", { function: "reply-sink", filters: [exact({ type: "reply.done" })] });
    await emit([{ id: "q1", type: "reply.request", data: { x: 1 } }]);
    const [sink] = await h.runs("reply-sink", 1);
    const echoed = outputOf(sink) as { event: Record<string, string>; payload: unknown };
    t.is(echoed.event.source, "/replier");
    t.is(echoed.event.dispatchhops, "1");
    t.deepEqual(echoed.payload, { from: "q1", payload: { x: 1 } });

    // A function that answers every event with another of the same type.
    await h.fn(
      "looper",
      'module.exports = async (context) => ({ type: "loop.tick", source: "/looper", data: {} });\n',
    );
    await subscribe(h, "loop", { function: "looper", filters: [exact({ type: "loop.tick" })] });
    await emit([{ id: "tick0", type: "loop.tick" }]);
    // The first event, then 16 replies; the 17th is not published.
    const runs = await h.runs("looper", 17);
    t.is(runs.length, 17);
    const hops = runs
      .map((run) => Number(run.spec?.event?.extensions.dispatchhops ?? 0))
      .sort((a, b) => a - b);
    t.deepEqual(
      hops,
      Array.from({ length: 17 }, (_, i) => i),
    );
    const stored = await h.eventService.listEvents({ type: "loop.tick", limit: 100 });
    t.is(stored.events.length, 17);
  },
);

test.serial("a subscription can replay stored events: from all, or from a time", async (t) => {
  await emit([{ id: "old1", type: "replay.test" }]);
  await emit([{ id: "old2", type: "replay.test" }]);
  const listed = await h.eventService.listEvents({ type: "replay.test" });
  const stored2 = listed.events.find((e) => e.event?.id === "old2")?.stored;
  t.truthy(stored2);
  await emit([{ id: "old3", type: "replay.test" }]);
  await h.fn("replay-all", echoHandler);
  await h.fn("replay-time", echoHandler);
  await h.fn("replay-new", echoHandler);
  await subscribe(h, "replay-all", {
    function: "replay-all",
    filters: [exact({ type: "replay.test" })],
    startFrom: { position: { case: "all", value: true } },
  });
  await subscribe(h, "replay-time", {
    function: "replay-time",
    filters: [exact({ type: "replay.test" })],
    startFrom: { position: { case: "time", value: stored2 ?? timestampFromDate(new Date()) } },
  });
  await subscribe(h, "replay-new", { function: "replay-new", filters: [exact({ type: "replay.test" })] });
  await emit([{ id: "new1", type: "replay.test" }]);
  t.deepEqual(ids(await h.runs("replay-all", 4)), ["new1", "old1", "old2", "old3"]);
  t.deepEqual(ids(await h.runs("replay-time", 3)), ["new1", "old2", "old3"]);
  t.deepEqual(ids(await h.runs("replay-new", 1)), ["new1"]);
});

test.serial(
  "ordered delivery hands events over one at a time, in order, even when one needs retries",
  async (t) => {
    // Fails the first call for event 3 only; records the order it saw events in.
    await h.fn(
      "ordered",
      `let failed = false;
module.exports = async (context, payload) => {
  if (payload.n === 3 && !failed) { failed = true; throw new Error("once"); }
  await new Promise((r) => setTimeout(r, 5));
  return payload.n;
};
`,
      "--min-scale",
      "1",
      "--max-scale",
      "3",
    );
    await subscribe(h, "ordered", {
      function: "ordered",
      filters: [exact({ type: "ordered.test" })],
      ordering: Ordering.ORDERED,
      delivery: { retries: 3, backoff: { delay: { nanos: 50_000_000 } } },
    });
    await emit(Array.from({ length: 20 }, (_, n) => ({ id: `o${n}`, type: "ordered.test", data: { n } })));
    const runs = await h.runs("ordered", 21);
    const succeeded = runs.filter((run) => run.status?.error === undefined);
    t.deepEqual(
      succeeded.map((run) => outputOf(run)),
      Array.from({ length: 20 }, (_, n) => n),
    );
    // One at a time: each run started after the one before had finished.
    for (let i = 1; i < runs.length; i++) {
      const before = runs[i - 1] as Run;
      const finished =
        Number(before.status?.finished?.seconds ?? 0n) * 1000 + (before.status?.finished?.nanos ?? 0) / 1e6;
      t.true(startMs(runs[i] as Run) >= finished - 1, `run ${i} overlapped the one before`);
    }
  },
);

test.serial(
  "updating a subscription's filter keeps its position: events stored meanwhile are delivered, none twice",
  async (t) => {
    await h.fn("moving", echoHandler);
    await subscribe(h, "moving", { function: "moving", filters: [prefix({ type: "move." })] });
    await emit([{ id: "m1", type: "move.a" }]);
    await h.runs("moving", 1);
    await updateSpec("moving", { function: "moving", filters: [exact({ type: "move.b" })] });
    // Stored while the broker moves to the new filter: m2 matches both filters, m3 only the old one
    // (delivered or not, depending on whether the broker had applied the update yet).
    await emit([
      { id: "m2", type: "move.b" },
      { id: "m3", type: "move.a" },
    ]);
    await ready(h, "moving");
    await emit([
      { id: "m4", type: "move.a" },
      { id: "m5", type: "move.b" },
    ]);
    const runs = await h.runsUntil("moving", (list) => ids(list).includes("m2") && ids(list).includes("m5"));
    const seen = ids(runs);
    t.deepEqual([...new Set(seen)], seen, `no event twice: ${seen.join(", ")}`);
    t.deepEqual(
      seen.filter((id) => id !== "m3"),
      ["m1", "m2", "m5"],
    );
  },
);

test.serial(
  "changing only how a subscription delivers (concurrency, retries) keeps its place: nothing replayed, nothing lost",
  async (t) => {
    await h.fn("tuned", echoHandler);
    await subscribe(h, "tuned", { function: "tuned", filters: [exact({ type: "tuned.test" })] });
    await emit([{ id: "t1", type: "tuned.test" }]);
    await h.runs("tuned", 1);
    await updateSpec("tuned", {
      function: "tuned",
      filters: [exact({ type: "tuned.test" })],
      delivery: { retries: 5, concurrency: 4 },
    });
    const updated = await ready(h, "tuned");
    t.is(updated.meta?.generation, 2n);
    await emit([{ id: "t2", type: "tuned.test" }]);
    const runs = await h.runsUntil("tuned", (list) => ids(list).includes("t2"));
    t.deepEqual(ids(runs), ["t1", "t2"]);
  },
);

/**
 * Replaces a subscription's spec at the revision read, again when the broker
 * wrote its status in between (an Update is a compare-and-set on the revision,
 * and status writes move it, as in Kubernetes).
 */
async function updateSpec(
  name: string,
  spec: MessageInitShape<typeof SubscriptionSpecSchema>,
): Promise<void> {
  for (;;) {
    const { subscription } = await h.clients.subscriptions.get({ name });
    try {
      await h.clients.subscriptions.update({ subscription: { meta: subscription?.meta, spec } });
      return;
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Aborted) throw err;
    }
  }
}

test.serial(
  "text/json and +json data reach the handler as JSON, as the broker and the API read them",
  async (t) => {
    await h.fn("json-types", echoHandler);
    await subscribe(h, "json-types", { function: "json-types", filters: [exact({ type: "json.types" })] });
    await h.eventService.emit({
      events: ["text/json", "application/ld+json; charset=utf-8", "text/plain"].map((type, i) => ({
        id: `j${i}`,
        type: "json.types",
        source: "/test",
        datacontenttype: type,
        data: { case: "binaryData" as const, value: Buffer.from('{"n":1}') },
      })),
    });
    const runs = await h.runs("json-types", 3);
    const payloadOf = (id: string) =>
      (outputOf(runs.find((run) => run.spec?.event?.id === id)) as { payload: unknown }).payload;
    t.deepEqual(payloadOf("j0"), { n: 1 });
    t.deepEqual(payloadOf("j1"), { n: 1 });
    t.is(payloadOf("j2"), '{"n":1}');
  },
);
