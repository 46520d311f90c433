import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ErrorType, Phase, SecretService, Trigger } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { deploy, exec, functionClients, helloJs, outputOf } from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";

const test = anyTest as TestFn<{ dispatch: TestDispatch; api: ReturnType<typeof functionClients> }>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
  t.context.api = functionClients(t.context.dispatch);
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

const activatorUrl = (t: { context: { dispatch: TestDispatch } }) =>
  t.context.dispatch.controlPlane.urls().activator ?? "";

test("a catastrophic pattern in a schema does not stall the control plane: a call of another function beside it completes, and it gets its answer", async (t) => {
  const { api } = t.context;
  await deploy(api, "regex-evil", "evil.js", helloJs, {
    schema: {
      in: {
        type: "object",
        properties: { name: { type: "string", pattern: "^(a+)+$" } },
        patternProperties: { "^(b|b)+$": { type: "string" } },
      },
    },
  });
  await deploy(api, "regex-calm", "calm.js", helloJs);
  // 2^40 backtracking steps each with JavaScript's RegExp: hours.
  const evil = `${"a".repeat(40)}!`;
  const evilCall = exec(api, "regex-evil", { name: evil, [`${"b".repeat(40)}!`]: "x" });
  const calm = await exec(api, "regex-calm", { name: "Arya" });
  t.is(calm.status?.phase, Phase.READY);
  t.deepEqual(outputOf(calm), { myField: "Hello, Arya from Nowhere" });
  const refused = await evilCall;
  t.is(refused.status?.error?.type, ErrorType.INPUT_ERROR);
  t.regex(refused.status?.error?.message ?? "", /\/name must match pattern "\^\(a\+\)\+\$"/);
  const fine = await exec(api, "regex-evil", { name: "aaaa" });
  t.is(fine.status?.phase, Phase.READY);
});

test("a pattern RE2 cannot run is refused at create, naming the field and the pattern", async (t) => {
  const { api } = t.context;
  const err = await rejects(
    deploy(api, "regex-backref", "backref.js", helloJs, {
      schema: {
        in: { type: "object", properties: { twin: { type: "string", pattern: "^(a)\\1$" } } },
        out: { type: "string", pattern: "^(?!x)" },
      },
    }),
  );
  t.is(err.code, Code.InvalidArgument);
  t.regex(
    err.rawMessage,
    /spec\.schema\.in: pattern "\^\(a\)\\\\1\$" cannot be used: .*\(patterns run on RE2/,
  );
  t.regex(err.rawMessage, /spec\.schema\.out: pattern "\^\(\?!x\)" cannot be used/);
  t.false((await api.functions.list({})).items.some((f) => f.meta?.name === "regex-backref"));
});

test("an input too large for a run record is refused as an InputError, and the refusal is recorded without it", async (t) => {
  const { api } = t.context;
  await deploy(
    api,
    "big-in",
    "bigin.js",
    'export default async () => { console.log("ran"); return "ran"; };\n',
  );
  const input = { blob: "x".repeat(600_000) };
  const run = await exec(api, "big-in", input);
  t.is(run.status?.phase, Phase.ERROR);
  t.is(run.status?.error?.type, ErrorType.INPUT_ERROR);
  t.regex(
    run.status?.error?.message ?? "",
    /^the input of \d+ bytes is more than the limit of \d+ bytes \(a run record holds a call's input, output and logs in one NATS message of at most 1 MiB/,
  );
  t.deepEqual(run.status?.logs?.stdout ?? [], [], "the function was not called");
  const stored = (await api.runs.get({ function: "big-in", name: run.meta?.name ?? "" })).run;
  t.is(stored?.status?.error?.type, ErrorType.INPUT_ERROR);
  t.is(stored?.spec?.input, undefined, "the record leaves the input out");
  // Async calls are refused the same way, with a finished run.
  const { run: async } = await api.runs.create({
    run: { spec: { function: "big-in", async: true, input: fromJson(ValueSchema, input as JsonValue) } },
  });
  t.is(async?.status?.error?.type, ErrorType.INPUT_ERROR);
});

test("an output too large for a run record is a FunctionError that says so, and the run is recorded with its logs", async (t) => {
  const { api } = t.context;
  await deploy(
    api,
    "big-out",
    "bigout.js",
    'export default async () => { console.log("made it"); return "y".repeat(700000); };\n',
  );
  const run = await exec(api, "big-out", {});
  t.is(run.status?.error?.type, ErrorType.FUNCTION_ERROR);
  t.regex(run.status?.error?.message ?? "", /^the output of \d+ bytes is more than the limit of \d+ bytes/);
  t.deepEqual(run.status?.logs?.stdout, ["made it"]);
  const stored = (await api.runs.get({ function: "big-out", name: run.meta?.name ?? "" })).run;
  t.is(stored?.status?.error?.type, ErrorType.FUNCTION_ERROR);
});

test("logs too large for a run record keep their last lines after a marker; the run succeeds and is recorded", async (t) => {
  const { api } = t.context;
  await deploy(
    api,
    "chatty",
    "chatty.js",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: this is handler source code
    'export default async () => { for (let i = 0; i < 3000; i++) console.log(`line ${i} ${"z".repeat(500)}`); return "done"; };\n',
  );
  const run = await exec(api, "chatty", {});
  t.is(run.status?.phase, Phase.READY);
  t.is(outputOf(run), "done");
  const stdout = run.status?.logs?.stdout ?? [];
  t.regex(
    stdout[0] ?? "",
    /^\[… \d+ earlier lines \([\d.]+ (KiB|MiB)\) left out: a run record holds at most/,
  );
  t.regex(stdout.at(-1) ?? "", /^line 2999 z+$/);
  t.true(stdout.length < 3000);
  const stored = (await api.runs.get({ function: "chatty", name: run.meta?.name ?? "" })).run;
  t.deepEqual(stored?.status?.logs?.stdout, stdout);
});

test("HTTP: secrets a header cannot carry are refused before the call, and the run says so", async (t) => {
  const { api, dispatch } = t.context;
  const secrets = client(SecretService, dispatch.url, dispatch.token);
  await secrets.create({
    secret: { meta: { name: "huge" }, spec: { data: { cert: "c".repeat(40_000) } } },
  });
  // 20 KB of secrets: more than Node's default 16 KiB of headers, which the worker raises.
  await secrets.create({
    secret: { meta: { name: "large" }, spec: { data: { cert: "c".repeat(20_000) } } },
  });
  const handler = "export default async (context) => ({ size: context.secrets.cert.length });\n";
  await deploy(api, "web-huge", "webhuge.js", handler, { secrets: ["huge"] });
  await deploy(api, "web-large", "weblarge.js", handler, { secrets: ["large"] });
  const headers = { "dispatch-token": dispatch.token };

  const refused = await fetch(`${activatorUrl(t)}/default/web-huge/`, { headers });
  t.is(refused.status, 500);
  const body = (await refused.json()) as { error: { type: string; message: string } };
  t.is(body.error.type, "SystemError");
  t.regex(
    body.error.message,
    /^the function's secrets take \d+ bytes in the Dispatch-Secrets header; an HTTP call carries at most 32768/,
  );
  const huge = (await api.runs.list({ function: "web-huge" })).items.at(-1);
  t.is(huge?.spec?.trigger, Trigger.HTTP);
  t.is(huge?.status?.phase, Phase.ERROR);
  t.is(huge?.status?.error?.message, body.error.message);

  const fits = await fetch(`${activatorUrl(t)}/default/web-large/`, { headers });
  t.is(fits.status, 200);
  t.deepEqual(await fits.json(), { size: 20_000 });
  t.is((await api.runs.list({ function: "web-large" })).items.at(-1)?.status?.phase, Phase.READY);
});

test("HTTP: a request the worker refuses (no Dispatch-Logs in its answer) is a SystemError run, not READY", async (t) => {
  const { api, dispatch } = t.context;
  await deploy(api, "py-refuses", "refuses.py", "def handle(context, payload):\n    return 'ran'\n");
  // Python's http.server refuses a request with more than 100 header lines (431);
  // the activator takes up to 2000.
  const headers: Record<string, string> = { "dispatch-token": dispatch.token };
  for (let i = 0; i < 150; i++) headers[`x-extra-${i}`] = "1";
  const answer = await fetch(`${activatorUrl(t)}/default/py-refuses/`, { headers });
  t.is(answer.status, 431);
  await answer.arrayBuffer();
  const run = (await api.runs.list({ function: "py-refuses" })).items.at(-1);
  t.is(run?.status?.phase, Phase.ERROR);
  t.is(run?.status?.error?.type, ErrorType.SYSTEM_ERROR);
  t.regex(run?.status?.error?.message ?? "", /^the worker refused the request: HTTP 431/);
});
