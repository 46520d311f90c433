import { randomBytes } from "node:crypto";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createDispatchTransport } from "@dispatch/client";
import { EventService, Phase, type Run } from "@dispatch/proto";
import test from "ava";
import { CloudEvent, emitterFor, HTTP, httpTransport, Mode } from "cloudevents";
import {
  bound,
  type EventsHarness,
  echoHandler,
  outputOf,
  startEventsHarness,
  subscribe,
} from "./events-harness.js";

// The broker's ingress as producers meet it: the official CloudEvents SDK in
// binary and structured mode, batches, dedup, and every kind of bad input.

let h: EventsHarness;
test.before(async () => {
  h = await startEventsHarness("events-ingress");
  await h.fn("echo", echoHandler);
});
test.after.always(async () => {
  await h?.stop();
});

interface Echo {
  event: Record<string, string>;
  payload: unknown;
}
const echoOf = (run: Run | undefined) => outputOf(run) as unknown as Echo;

test.serial(
  "events sent with the cloudevents SDK in binary and structured mode arrive whole: every attribute, JSON and binary data",
  async (t) => {
    await subscribe(h, "interop", {
      function: "echo",
      filters: [{ dialect: { case: "prefix", value: { attributes: { type: "interop." } } } }],
    });
    const auth = { headers: { authorization: `Bearer ${h.token}` } };
    const bytes = randomBytes(300);
    const sent: CloudEvent<unknown>[] = [
      new CloudEvent({
        id: "bin-json",
        source: "https://example.com/shop",
        type: "interop.json",
        subject: "order/1",
        time: "2026-01-02T03:04:05.678Z",
        dataschema: "https://example.com/schema.json",
        datacontenttype: "application/json",
        data: { order: 1, items: ["a", "b"], note: "Euro € 😀" },
        shopid: "s42",
      }),
      new CloudEvent({
        id: "bin-bytes",
        source: "/shop",
        type: "interop.bytes",
        datacontenttype: "application/octet-stream",
        data: bytes,
      }),
    ];
    const binary = emitterFor(httpTransport(`${h.events}/default/default`), {
      binding: HTTP,
      mode: Mode.BINARY,
    });
    const structured = emitterFor(httpTransport(`${h.events}/default/default`), {
      binding: HTTP,
      mode: Mode.STRUCTURED,
    });
    for (const event of sent) {
      const answer = (await binary(event, auth)) as { body: string };
      t.deepEqual(JSON.parse(answer.body), { accepted: 1, duplicates: 0 });
      const again = (await structured(event.cloneWith({ id: `${event.id}-structured` }), auth)) as {
        body: string;
      };
      t.deepEqual(JSON.parse(again.body), { accepted: 1, duplicates: 0 });
    }
    const runs = await h.runs("echo", 4);
    const byId = new Map(runs.map((run) => [run.spec?.event?.id, run]));
    for (const mode of ["", "-structured"]) {
      const json = byId.get(`bin-json${mode}`);
      t.is(json?.spec?.subscription, "interop");
      const echoed = echoOf(json);
      t.like(echoed.event, {
        id: `bin-json${mode}`,
        source: "https://example.com/shop",
        type: "interop.json",
        subject: "order/1",
        time: "2026-01-02T03:04:05.678Z",
        dataschema: "https://example.com/schema.json",
        shopid: "s42",
        specversion: "1.0",
      });
      t.deepEqual(echoed.payload, { order: 1, items: ["a", "b"], note: "Euro € 😀" });
      const binaryRun = byId.get(`bin-bytes${mode}`);
      t.is(echoOf(binaryRun).event.type, "interop.bytes");
      // The handler is given non-text data as base64 (runtimes/CONTRACT.md): the bytes, intact.
      t.deepEqual(Buffer.from(echoOf(binaryRun).payload as string, "base64"), bytes);
      const stored = binaryRun?.spec?.event?.data;
      t.is(stored?.case, "binaryData");
      t.deepEqual(Buffer.from(stored?.value as Uint8Array), bytes);
    }
  },
);

test.serial("a batch of 100 events in one request is stored and every one delivered", async (t) => {
  await h.fn("count", "module.exports = async (context, payload) => payload;\n", "--max-scale", "4");
  await subscribe(h, "batch", {
    function: "count",
    filters: [{ dialect: { case: "exact", value: { attributes: { type: "batch.item" } } } }],
  });
  const batch = Array.from({ length: 100 }, (_, i) => ({
    specversion: "1.0",
    id: `item-${i}`,
    source: "/batch",
    type: "batch.item",
    data: { i },
  }));
  const answer = await h.post(JSON.stringify(batch), {
    "content-type": "application/cloudevents-batch+json",
  });
  t.is(answer.status, 202, answer.body);
  t.deepEqual(JSON.parse(answer.body), { accepted: 100, duplicates: 0 });
  const runs = await h.runs("count", 100);
  t.deepEqual(
    runs.map((run) => (outputOf(run) as { i: number }).i).sort((a, b) => a - b),
    batch.map((_, i) => i),
  );
  t.true(runs.every((run) => run.status?.error === undefined));
});

test.serial(
  "an event sent twice (same source and id) is stored once and answered 202 both times",
  async (t) => {
    await h.fn("dedup", "module.exports = async (context) => context.event.id;\n");
    await subscribe(h, "dedup", {
      function: "dedup",
      filters: [{ dialect: { case: "exact", value: { attributes: { type: "dedup.test" } } } }],
    });
    const event = (id: string, source: string) => ({
      "ce-id": id,
      "ce-source": source,
      "ce-type": "dedup.test",
      "ce-specversion": "1.0",
    });
    const first = await h.post("", event("d1", "/a"));
    const second = await h.post("", event("d1", "/a"));
    // The same id from another source is another event.
    const other = await h.post("", event("d1", "/b"));
    t.deepEqual([first.status, second.status, other.status], [202, 202, 202]);
    t.deepEqual(JSON.parse(second.body), { accepted: 1, duplicates: 1 });
    t.deepEqual(JSON.parse(other.body), { accepted: 1, duplicates: 0 });
    const emitted = await h.eventService.emit({ events: [{ id: "d1", source: "/a", type: "dedup.test" }] });
    t.true(emitted.results[0]?.duplicate);
    const listed = await h.eventService.listEvents({ type: "dedup.test", limit: 100 });
    t.deepEqual(
      listed.events.map((e) => `${e.event?.source} ${e.event?.id}`),
      ["/a d1", "/b d1"],
    );
    const runs = await h.runs("dedup", 2);
    t.deepEqual(runs.map((run) => run.spec?.event?.source).sort(), ["/a", "/b"]);
  },
);

test.serial("bad input is refused with a 4xx that names the problem, and nothing is stored", async (t) => {
  const before = (await h.eventService.listEvents({ limit: 1000 })).events.length;
  const binary = { "ce-source": "/bad", "ce-type": "bad.input", "ce-specversion": "1.0" };
  const cases: [string, { status: number; body: string }, number, RegExp][] = [
    ["missing id", await h.post("", binary), 400, /id is required/],
    [
      "wrong specversion",
      await h.post("", { ...binary, "ce-id": "1", "ce-specversion": "0.3" }),
      400,
      /specversion "0\.3" is not supported/,
    ],
    [
      "malformed JSON batch",
      await h.post('[{"id": "1",', { "content-type": "application/cloudevents-batch+json" }),
      400,
      /the batch is not valid JSON/,
    ],
    [
      "a batch that is not an array",
      await h.post('{"id": "1"}', { "content-type": "application/cloudevents-batch+json" }),
      400,
      /not a JSON array/,
    ],
    [
      "bad percent-encoding",
      await h.post("", { ...binary, "ce-id": "1", "ce-subject": "100%" }),
      400,
      /ce-subject is not valid percent-encoding/,
    ],
    [
      "an overlong UTF-8 escape",
      await h.post("", { ...binary, "ce-id": "1", "ce-subject": "%C0%A0" }),
      400,
      /ce-subject is not valid percent-encoding/,
    ],
    [
      "an over-size event",
      await h.post(Buffer.alloc(2 * 1024 * 1024, 1), {
        ...binary,
        "ce-id": "1",
        "content-type": "application/octet-stream",
      }),
      413,
      /limit/,
    ],
    [
      "an attribute name with capitals",
      await h.post(JSON.stringify({ specversion: "1.0", id: "1", source: "/s", type: "t", Bad: "x" }), {
        "content-type": "application/cloudevents+json",
      }),
      400,
      /extension "Bad" is not a valid attribute name/,
    ],
    [
      "one bad event in a batch",
      await h.post(
        JSON.stringify([
          { specversion: "1.0", id: "ok", source: "/s", type: "bad.input" },
          { specversion: "1.0", source: "/s", type: "bad.input" },
        ]),
        { "content-type": "application/cloudevents-batch+json" },
      ),
      400,
      /event \[1\] of the batch is not valid: id is required/,
    ],
    [
      "an event format other than JSON",
      await h.post("x", { "content-type": "application/cloudevents+avro" }),
      415,
      /application\/cloudevents\+json/,
    ],
    [
      "no token",
      await fetchStatus(`${h.events}/default/default`, { ...binary, "ce-id": "1" }),
      401,
      /needs a Dispatch token/,
    ],
    [
      "an org that does not exist",
      await h.post("", { ...binary, "ce-id": "1" }, "/nope/default"),
      404,
      /org "nope" not found/,
    ],
    [
      "a broker that does not exist",
      await h.post("", { ...binary, "ce-id": "1" }, "/default/other"),
      404,
      /no broker "other"/,
    ],
  ];
  for (const [what, answer, status, message] of cases) {
    t.is(answer.status, status, `${what}: ${answer.body}`);
    t.regex(JSON.parse(answer.body).error.message, message, what);
  }
  await t.throwsAsync(
    h.eventService.emit({ events: [{ id: "1", source: "/s", type: "x", specversion: "2.0" }] }),
    {
      message: /specversion "2\.0" is not supported/,
    },
  );
  await t.throwsAsync(h.eventService.listDeadLetters({ subscription: "x".repeat(5000) }), {
    message: /is not a subscription name/,
  });
  await t.throwsAsync(h.eventService.listEvents({ type: "y".repeat(5000) }), {
    message: /the type is 5000 characters long/,
  });
  t.is((await h.eventService.listEvents({ limit: 1000 })).events.length, before, "nothing was stored");
});

test.serial(
  "a subscription with an invalid CESQL filter or an unknown function is refused at create",
  async (t) => {
    const sql = await t.throwsAsync(
      h.clients.subscriptions.create({
        subscription: {
          meta: { name: "bad-sql" },
          spec: { function: "echo", filters: [{ dialect: { case: "sql", value: "type = " } }] },
        },
      }),
    );
    t.is(ConnectError.from(sql).code, Code.InvalidArgument);
    t.regex(sql?.message ?? "", /spec\.filters\[0\]\.sql: is not a valid CESQL expression/);
    const missing = await t.throwsAsync(
      h.clients.subscriptions.create({
        subscription: { meta: { name: "no-fn" }, spec: { function: "nope" } },
      }),
    );
    t.is(ConnectError.from(missing).code, Code.InvalidArgument);
    t.regex(missing?.message ?? "", /function "nope", which does not exist/);
    const list = await h.clients.subscriptions.list({});
    t.false(list.items.some((s) => ["bad-sql", "no-fn"].includes(s.meta?.name ?? "")));
  },
);

test.serial(
  "an ingest token (a value of the org's Secret events-ingest-default) sends events to that broker, and nothing else",
  async (t) => {
    await subscribe(h, "hooks", {
      function: "echo",
      filters: [{ dialect: { case: "exact", value: { attributes: { type: "ingest.hook" } } } }],
    });
    const ingest = randomBytes(24).toString("base64url");
    await h.ok("create", "secret", "events-ingest-default", "--from-literal", `webhook=${ingest}`);
    const event = (id: string, token: string) => ({
      "ce-specversion": "1.0",
      "ce-id": id,
      "ce-source": "/hooks",
      "ce-type": "ingest.hook",
      "content-type": "application/json",
      authorization: `Bearer ${token}`,
    });
    const sent = await fetch(`${h.events}/default/default`, {
      method: "POST",
      headers: event("hook-1", ingest),
      body: JSON.stringify({ from: "a webhook" }),
    });
    t.is(sent.status, 202, await sent.clone().text());
    const runs = await h.runsUntil("echo", (all) => all.some((r) => r.spec?.event?.id === "hook-1"), bound);
    const run = runs.find((r) => r.spec?.event?.id === "hook-1");
    t.is(echoOf(run).event.type, "ingest.hook");
    t.deepEqual(echoOf(run).payload, { from: "a webhook" });

    const wrong = await fetchStatus(`${h.events}/default/default`, event("hook-2", `${ingest}x`));
    t.is(wrong.status, 401);
    t.regex(
      JSON.parse(wrong.body).error.message,
      /neither a Dispatch token nor an ingest token of broker "default" in org "default" \(a value of its Secret events-ingest-default\)/,
    );
    // Another org's broker, or the org left out of the path: not this token's.
    t.is((await fetchStatus(`${h.events}/nope/default`, event("hook-3", ingest))).status, 401);
    t.is((await fetchStatus(`${h.events}/`, event("hook-4", ingest))).status, 401);
    // Nor the EventService: reading events needs a Dispatch token.
    const withIngestToken = createClient(
      EventService,
      createDispatchTransport({ server: h.events, token: ingest }),
    );
    const error = await t.throwsAsync(withIngestToken.listEvents({}));
    t.is(ConnectError.from(error).code, Code.Unauthenticated);
  },
);

async function fetchStatus(url: string, headers: Record<string, string>) {
  const response = await fetch(url, { method: "POST", headers });
  return { status: response.status, body: await response.text() };
}

test.serial(
  "Dispatch v1's events scenario (30) through the CLI: subscribe, emit, change the event type, delete",
  async (t) => {
    await h.fn(
      "v1-debug",
      "module.exports = async (context, params) => ({ context: { event: context.event }, params });\n",
    );
    const created = await h.ok(
      "create",
      "subscription",
      "v1-sub",
      "v1-debug",
      "--event-type",
      "test.event.1",
      "--wait",
    );
    t.regex(created, /v1-sub/);
    const listed = await h.ok("get", "subscriptions", "-o", "json");
    t.is(
      JSON.parse(listed).items.find((s: { meta: { name: string } }) => s.meta.name === "v1-sub")?.status
        ?.phase,
      "PHASE_READY",
    );

    const emitted = await h.ok(
      "emit",
      "test.event.1",
      "--data",
      '{"name": "Jon"}',
      "--content-type",
      "application/json",
    );
    t.regex(emitted, /stored/);
    const [first] = await h.runs("v1-debug", 1);
    t.is(first?.status?.phase, Phase.READY);
    const output = outputOf(first) as { context: { event: { type: string } }; params: unknown };
    t.is(output.context.event.type, "test.event.1");
    t.deepEqual(output.params, { name: "Jon" });

    await h.ok("update", "subscription", "v1-sub", "--event-type", "test.event.2", "--wait");
    await h.ok("emit", "test.event.2", "--data", '{"name": "Ann"}');
    // An event of the old type is no longer delivered.
    await h.ok("emit", "test.event.1", "--data", '{"name": "old"}');
    await h.ok("emit", "test.event.2", "--data", '{"name": "last"}');
    const runs = await h.runsUntil("v1-debug", (list) =>
      list.some((run) => (outputOf(run) as { params?: { name?: string } }).params?.name === "last"),
    );
    const newest = runs.at(-1);
    t.is((outputOf(newest) as { context: { event: { type: string } } }).context.event.type, "test.event.2");
    t.deepEqual(runs.map((run) => (outputOf(run) as { params: { name: string } }).params.name).sort(), [
      "Ann",
      "Jon",
      "last",
    ]);
    // `get runs` says what started each run.
    t.regex(await h.ok("get", "runs", "v1-debug"), /\bevent test\.event\.2 \(v1-sub\)\s+READY\b/);
    await h.ok("delete", "subscription", "v1-sub");
    await h.ok("delete", "function", "v1-debug");
    const gone = await h.dispatch("get", "subscription", "v1-sub");
    t.not(gone.code, 0);
    t.regex(gone.stderr, /not found/);
  },
);

test.serial(
  "an org's events go with it: deleting the org removes its streams, and its broker refuses events",
  async (t) => {
    await h.clients.organizations.create({ organization: { meta: { name: "short-lived" } } });
    const binary = { "ce-id": "x1", "ce-source": "/s", "ce-type": "tmp.event", "ce-specversion": "1.0" };
    // Right after the org is created the broker may not have seen it yet: send until it is taken.
    let answer = await h.post("", binary, "/short-lived/default");
    while (answer.status === 404) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await h.post("", binary, "/short-lived/default");
    }
    t.is(answer.status, 202, answer.body);
    const jsm = h.up.events.broker.store.jsm;
    t.is((await jsm.streams.info("EVENTS_short-lived_default")).state.messages, 1);
    await h.clients.organizations.delete({ name: "short-lived" });
    // The broker follows orgs with a watch: wait until it refuses the org, then look at the streams.
    let refused = await h.post("", { ...binary, "ce-id": "x2" }, "/short-lived/default");
    // (A send racing the removal may also be answered 503: not stored.)
    while (refused.status !== 404) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      refused = await h.post("", { ...binary, "ce-id": "x3" }, "/short-lived/default");
    }
    t.is(refused.status, 404);
    t.regex(refused.body, /org \\"short-lived\\" not found/);
    const names: string[] = [];
    for (;;) {
      names.length = 0;
      for await (const name of jsm.streams.names()) names.push(name);
      if (!names.includes("EVENTS_short-lived_default")) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.false(
      names.some((name) => name.includes("short-lived")),
      names.join(", "),
    );
  },
);
