import { create, fromJson, type JsonValue, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import {
  type CloudEvent,
  CloudEventSchema,
  ErrorType,
  Phase,
  Role,
  RunService,
  SecretService,
  SystemService,
  TokenService,
  Trigger,
} from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { deploy, functionClients } from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";

// One invoke path for every wire form: events delivered through
// RunService.Create reach a worker's /event in binary mode (both runtimes),
// and HTTP calls through the activator get the invoker's handling of wedged
// workers.

const test = anyTest as TestFn<{ dispatch: TestDispatch; api: ReturnType<typeof functionClients> }>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
  t.context.api = functionClients(t.context.dispatch);
  await client(SecretService, t.context.dispatch.url, t.context.dispatch.token).create({
    secret: { meta: { name: "event-key" }, spec: { data: { key: "k3y" } } },
  });
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

/** Handlers that show what they got, reply with an event when asked, and fail when asked. */
const handlers = {
  nodejs: [
    "event.js",
    [
      "export default async (context, payload) => {",
      "  if (payload?.fail) throw new TypeError('no good');",
      "  if (payload?.reply) return { type: 'com.example.replied', source: '/fn/reply', subject: 'r-1', data: { echoed: payload.reply, by: context.event.id } };",
      "  console.log('event', context.event.id);",
      "  return { event: context.event, data: payload, secret: context.secrets.key ?? null };",
      "};",
      "",
    ].join("\n"),
  ],
  python3: [
    "event.py",
    [
      "def handle(context, payload):",
      "    if isinstance(payload, dict) and payload.get('fail'):",
      "        raise TypeError('no good')",
      "    if isinstance(payload, dict) and payload.get('reply'):",
      "        return {'type': 'com.example.replied', 'source': '/fn/reply', 'subject': 'r-1', 'data': {'echoed': payload['reply'], 'by': context['event']['id']}}",
      "    print('event', context['event']['id'])",
      "    return {'event': context['event'], 'data': payload, 'secret': context['secrets'].get('key')}",
      "",
    ].join("\n"),
  ],
} as const;

/** A CloudEvent with JSON data, as a broker would deliver it. */
function jsonEvent(
  id: string,
  data: JsonValue,
  more: Pick<MessageInitShape<typeof CloudEventSchema>, "subject" | "time" | "extensions"> = {},
): CloudEvent {
  return create(CloudEventSchema, {
    id,
    source: "/tests/invoke-path",
    type: "com.example.created",
    data: { case: "jsonData", value: fromJson(ValueSchema, data) },
    ...more,
  });
}

for (const [runtime, [file, code]] of Object.entries(handlers)) {
  const name = `on-event-${runtime}`;

  test.serial(
    `${runtime}: exec with an event reaches the handler as context.event and the data; the run has trigger EVENT and the event id`,
    async (t) => {
      const { api } = t.context;
      await deploy(api, name, file, code, { secrets: ["event-key"] });
      const time = new Date("2024-05-01T12:00:00.250Z");
      const { run } = await api.runs.create({
        run: {
          spec: {
            function: name,
            event: jsonEvent(
              `evt-${runtime}`,
              { name: "x", n: 1 },
              { subject: "thing-7", time: timestampFromDate(time), extensions: { tenant: "acme corp" } },
            ),
          },
        },
      });
      t.is(run?.status?.phase, Phase.READY, run?.status?.error?.message);
      t.is(run?.spec?.trigger, Trigger.EVENT);
      t.is(run?.spec?.event?.id, `evt-${runtime}`);
      const output = run?.status?.output
        ? (toJson(ValueSchema, run.status.output) as Record<string, unknown>)
        : {};
      t.like(output.event as object, {
        id: `evt-${runtime}`,
        source: "/tests/invoke-path",
        type: "com.example.created",
        specversion: "1.0",
        subject: "thing-7",
        time: "2024-05-01T12:00:00.250Z",
        tenant: "acme corp",
        datacontenttype: "application/json",
      });
      t.false("data" in (output.event as object), "context.event holds the attributes, not the data");
      t.deepEqual(output.data, { name: "x", n: 1 });
      t.is(output.secret, "k3y", "the function's secrets reach an event call");
      t.deepEqual(run?.status?.logs?.stdout, [`event evt-${runtime}`]);
      const stored = (await api.runs.get({ function: name, name: run?.meta?.name ?? "" })).run;
      t.is(stored?.spec?.trigger, Trigger.EVENT);
      t.is(stored?.spec?.event?.id, `evt-${runtime}`);
      t.is(stored?.status?.phase, Phase.READY);
    },
  );

  test.serial(`${runtime}: a reply event comes back in the run's status.reply`, async (t) => {
    const { api } = t.context;
    const { run } = await api.runs.create({
      run: { spec: { function: name, event: jsonEvent(`ask-${runtime}`, { reply: "hi" }) } },
    });
    t.is(run?.status?.phase, Phase.READY, run?.status?.error?.message);
    const reply = run?.status?.reply;
    t.is(reply?.type, "com.example.replied");
    t.is(reply?.source, "/fn/reply");
    t.is(reply?.subject, "r-1");
    t.is(reply?.specversion, "1.0");
    t.truthy(reply?.id, "the worker gives a reply event an id");
    t.is(reply?.data.case, "jsonData");
    t.deepEqual(reply?.data.case === "jsonData" ? toJson(ValueSchema, reply.data.value) : undefined, {
      echoed: "hi",
      by: `ask-${runtime}`,
    });
    t.is(run?.status?.output, undefined);
    const stored = (await api.runs.get({ function: name, name: run?.meta?.name ?? "" })).run;
    t.is(stored?.status?.reply?.type, "com.example.replied");
  });

  test.serial(
    `${runtime}: a handler that throws on an event is a FunctionError run with trigger EVENT`,
    async (t) => {
      const { api } = t.context;
      const { run } = await api.runs.create({
        run: { spec: { function: name, event: jsonEvent(`bad-${runtime}`, { fail: true }) } },
      });
      t.is(run?.status?.phase, Phase.ERROR);
      t.is(run?.status?.error?.type, ErrorType.FUNCTION_ERROR);
      t.regex(run?.status?.error?.message ?? "", /no good/);
      t.is(run?.spec?.trigger, Trigger.EVENT);
      t.is(run?.spec?.event?.id, `bad-${runtime}`);
    },
  );
}

test.serial(
  "an event with binary data reaches the handler as text, and the run records the bytes",
  async (t) => {
    const { api } = t.context;
    const name = "on-event-nodejs";
    const { run } = await api.runs.create({
      run: {
        spec: {
          function: name,
          event: {
            id: "bin-1",
            source: "/tests",
            type: "com.example.text",
            datacontenttype: "text/plain; charset=utf-8",
            data: { case: "binaryData", value: new TextEncoder().encode("plain words, ünïcode") },
          },
        },
      },
    });
    t.is(run?.status?.phase, Phase.READY, run?.status?.error?.message);
    const output = toJson(ValueSchema, run?.status?.output ?? fromJson(ValueSchema, null)) as Record<
      string,
      unknown
    >;
    t.is(output.data, "plain words, ünïcode");
    t.is((output.event as Record<string, unknown>).datacontenttype, "text/plain; charset=utf-8");
    const data = run?.spec?.event?.data;
    t.is(data?.case, "binaryData");
    t.is(
      new TextDecoder().decode(data?.case === "binaryData" ? data.value : undefined),
      "plain words, ünïcode",
    );
  },
);

test.serial(
  "only admin and component tokens deliver events: a member token is refused and nothing runs",
  async (t) => {
    const { dispatch, api } = t.context;
    const { secret } = await client(TokenService, dispatch.url, dispatch.token).create({
      name: "member",
      org: "default",
    });
    const member = client(RunService, dispatch.url, secret);
    const before = (await api.runs.list({ function: "on-event-nodejs" })).items.length;
    const err = await rejects(
      member.create({ run: { spec: { function: "on-event-nodejs", event: jsonEvent("sneaky", {}) } } }),
    );
    t.is(err.code, Code.PermissionDenied);
    t.regex(
      err.rawMessage,
      /may not deliver events \(run\.spec\.event\): that needs a component or admin token/,
    );
    t.is((await api.runs.list({ function: "on-event-nodejs" })).items.length, before);
    // The same member may still exec: only the event is the platform's.
    const { run } = await member.create({ run: { spec: { function: "on-event-nodejs" } } });
    t.is(run?.spec?.trigger, Trigger.EXEC);
    // A component token (the broker's) delivers the event, and may not exec.
    const { secret: componentSecret } = await client(TokenService, dispatch.url, dispatch.token).create({
      name: "broker",
      role: Role.COMPONENT,
    });
    const broker = client(RunService, dispatch.url, componentSecret);
    const delivered = await broker.create({
      run: {
        meta: { org: "default" },
        spec: { function: "on-event-nodejs", event: jsonEvent("delivered", {}) },
      },
    });
    t.is(delivered.run?.spec?.trigger, Trigger.EVENT);
    const execErr = await rejects(
      broker.create({ run: { meta: { org: "default" }, spec: { function: "on-event-nodejs" } } }),
    );
    t.is(execErr.code, Code.PermissionDenied);
  },
);

test.serial("a bad event is refused with every problem at once, and nothing runs", async (t) => {
  const { api } = t.context;
  const before = (await api.runs.list({ function: "on-event-nodejs" })).items.length;
  const err = await rejects(
    api.runs.create({
      run: {
        spec: {
          function: "on-event-nodejs",
          input: fromJson(ValueSchema, { also: "input" }),
          event: {
            specversion: "0.3",
            datacontenttype: "text/plain",
            extensions: { "Bad-Name": "x", data: "y", time: "z" },
            data: { case: "jsonData", value: fromJson(ValueSchema, 1) },
          },
        },
      },
    }),
  );
  t.is(err.code, Code.InvalidArgument);
  for (const expected of [
    /run\.spec\.event\.id: is required/,
    /run\.spec\.event\.source: is required/,
    /run\.spec\.event\.type: is required/,
    /run\.spec\.event\.specversion: "0\.3" is not supported \(use 1\.0/,
    /run\.spec\.event\.extensions\.Bad-Name: is not a CloudEvents attribute name/,
    /run\.spec\.event\.extensions\.data: is the event's data/,
    /run\.spec\.event\.extensions\.time: is an attribute of its own: set run\.spec\.event\.time/,
    /run\.spec\.event\.datacontenttype: is "text\/plain" but the data is JSON/,
    /run\.spec\.input: must be empty with an event/,
  ]) {
    t.regex(err.rawMessage, expected);
  }
  t.is((await api.runs.list({ function: "on-event-nodejs" })).items.length, before);
});

test.serial(
  "an event too large for a run record is refused as an InputError, recorded with its id but not its data",
  async (t) => {
    const { api } = t.context;
    const big = "x".repeat(900 * 1024);
    const { run } = await api.runs.create({
      run: { spec: { function: "on-event-nodejs", event: jsonEvent("big-1", { big }) } },
    });
    t.is(run?.status?.phase, Phase.ERROR);
    t.is(run?.status?.error?.type, ErrorType.INPUT_ERROR);
    t.regex(run?.status?.error?.message ?? "", /^the event of \d+ bytes is more than the limit of \d+ bytes/);
    t.is(run?.spec?.trigger, Trigger.EVENT);
    t.is(run?.spec?.event?.id, "big-1");
    t.is(run?.spec?.event?.data.case, undefined);
  },
);

test.serial(
  "HTTP: a worker wedged past the deadline is retired, and the next call gets a fresh instance",
  async (t) => {
    const { dispatch, api } = t.context;
    const code = [
      "const instance = crypto.randomUUID();",
      "export default async (c) => { if (c.http.query.spin) { for (;;) {} } return { statusCode: 200, body: instance }; };",
      "",
    ].join("\n");
    await deploy(api, "http-wedge", "wedge.js", code, { timeout: { seconds: 1n }, scale: { max: 1 } });
    const activator = (await client(SystemService, dispatch.url, dispatch.token).getStatus({})).urls
      .activator;
    const headers = { "dispatch-token": dispatch.token };
    const first = await fetch(`${activator}/default/http-wedge/`, { headers });
    t.is(first.status, 200);
    const before = await first.text();
    const stuck = await fetch(`${activator}/default/http-wedge/?spin=1`, { headers });
    t.is(stuck.status, 502);
    const body = (await stuck.json()) as { error: { type: string; message: string } };
    t.is(body.error.type, "SystemError");
    t.regex(body.error.message, /^the call did not finish within 1s/);
    const run = (await api.runs.list({ function: "http-wedge" })).items.at(-1);
    t.is(run?.spec?.trigger, Trigger.HTTP);
    t.is(run?.status?.error?.type, ErrorType.SYSTEM_ERROR);
    // With one instance at most, this answer can only come from a new one.
    const next = await fetch(`${activator}/default/http-wedge/`, { headers });
    t.is(next.status, 200);
    t.not(await next.text(), before);
  },
);

test.serial(
  "HTTP: a function without a timeout waits as long as the installation's default, not a fixed one",
  async (t) => {
    // An installation whose calls default to 3s, and a function whose instance
    // can never get ready (its module never finishes loading).
    const dispatch = await startDispatch({ controlPlane: { functionDefaults: { timeoutMs: 3000 } } });
    try {
      const api = functionClients(dispatch);
      const code =
        "await new Promise((resolve) => setTimeout(resolve, 600_000));\nexport default async () => 'late';\n";
      const { source } = await api.sources.upload({
        format: "file",
        filename: "slow.js",
        data: new TextEncoder().encode(code),
      });
      await api.functions.create({
        function: {
          meta: { name: "slow-start" },
          spec: { runtime: "nodejs", ...(source ? { source } : {}) },
        },
      });
      const activator = (await client(SystemService, dispatch.url, dispatch.token).getStatus({})).urls
        .activator;
      const answer = await fetch(`${activator}/default/slow-start/`, {
        headers: { "dispatch-token": dispatch.token },
      });
      t.is(answer.status, 503);
      const body = (await answer.json()) as { error: { type: string; message: string } };
      t.is(body.error.type, "SystemError");
      t.regex(body.error.message, /^no instance became ready within 3s/);
      const run = (await api.runs.list({ function: "slow-start" })).items.at(-1);
      t.is(run?.spec?.trigger, Trigger.HTTP);
      t.is(run?.status?.error?.message, body.error.message);
      // Stopping waits for a start in progress; a deleted function's is given up.
      await api.functions.delete({ name: "slow-start" });
    } finally {
      await dispatch.stop();
    }
  },
);
