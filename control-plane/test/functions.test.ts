import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ErrorType, Phase, SecretService, Trigger } from "@dispatch/proto";
import { type Rendezvous, startDispatch, startRendezvous, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import {
  deploy,
  exec,
  finishedRun,
  functionClients,
  helloJs,
  helloPy,
  outputOf,
  settled,
  until,
  uploadFile,
} from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";

const test = anyTest as TestFn<{
  dispatch: TestDispatch;
  api: ReturnType<typeof functionClients>;
  rv: Rendezvous;
}>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch({ controlPlane: { maxBundleBytes: 64 * 1024 } });
  t.context.api = functionClients(t.context.dispatch);
  // Handlers that must be caught mid-call wait here (see startRendezvous), not on a clock.
  t.context.rv = await startRendezvous();
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
  await t.context.rv?.close();
});

/** Handlers used by the per-runtime scenarios. */
const handlers = {
  nodejs: {
    schemed:
      // biome-ignore lint/suspicious/noTemplateCurlyInString: this is handler source code
      'export default async (context, payload) => { console.log("called"); return payload.bad ? { greeting: 7 } : { greeting: `hi ${payload.name}` }; };\n',
    slowV1: 'export default async (c, p) => { if (p?.hold) await fetch(p.hold); return "v1"; };\n',
    goodbye: 'export default async () => "Goodbye, Noone from Nowhere";\n',
  },
  python3: {
    schemed: [
      "def handle(context, payload):",
      '    print("called")',
      '    return {"greeting": 7} if payload.get("bad") else {"greeting": "hi " + payload["name"]}',
      "",
    ].join("\n"),
    slowV1: [
      "import urllib.request",
      "def handle(context, payload):",
      '    if (payload or {}).get("hold"):',
      '        urllib.request.urlopen(payload["hold"]).read()',
      '    return "v1"',
      "",
    ].join("\n"),
    goodbye: ["def handle(context, payload):", '    return "Goodbye, Noone from Nowhere"', ""].join("\n"),
  },
} as const;

for (const [runtime, file, code] of [
  ["nodejs", "hello.js", helloJs],
  ["python3", "hello.py", helloPy],
] as const) {
  test(`${runtime}: READY after the probe, exec returns the handler's output (v1 scenarios 8, 10, 16)`, async (t) => {
    const name = `hello-${runtime}`;
    const fn = await deploy(t.context.api, name, file, code);
    t.is(fn.status?.phase, Phase.READY, fn.status?.reason.join("; "));
    t.true((fn.status?.readyInstances ?? 0) >= 1);
    const run = await exec(t.context.api, name, { name: "Jon", place: "Winterfell" });
    t.is(run.status?.phase, Phase.READY, run.status?.error?.message);
    t.deepEqual(outputOf(run), { myField: "Hello, Jon from Winterfell" });
    t.is(run.spec?.trigger, Trigger.EXEC);
  });

  test(`${runtime}: a literal input 42 reaches the handler as a number (v1 scenario 16)`, async (t) => {
    const doubler =
      runtime === "nodejs"
        ? "export default async (context, payload) => payload * 2;\n"
        : "def handle(context, payload):\n    return payload * 2\n";
    await deploy(t.context.api, `doubler-${runtime}`, file, doubler);
    t.is(outputOf(await exec(t.context.api, `doubler-${runtime}`, 42)), 84);
  });

  test(`${runtime}: a handler that does not load puts the function in ERROR with the runtime's message (v1 scenario 17)`, async (t) => {
    const broken =
      runtime === "nodejs"
        ? "export default async (context, payload) => {\n  return {;\n};\n"
        : "def handle(context, payload)\n    return 1\n";
    const fn = await deploy(t.context.api, `broken-${runtime}`, file, broken);
    t.is(fn.status?.phase, Phase.ERROR);
    t.is(fn.status?.reason.length, 1);
    t.regex(fn.status?.reason[0] ?? "", /SyntaxError/);
    const err = await rejects(exec(t.context.api, `broken-${runtime}`, {}));
    t.is(err.code, Code.FailedPrecondition);
    t.regex(err.rawMessage, /is not ready/);
  });

  test(`${runtime}: stdout and stderr are captured into the run (v1 scenario 18)`, async (t) => {
    const logging =
      runtime === "nodejs"
        ? 'export default async () => { console.log("to stdout"); console.error("to stderr"); return 1; };\n'
        : 'import sys\ndef handle(context, payload):\n    print("to stdout")\n    print("to stderr", file=sys.stderr)\n    return 1\n';
    await deploy(t.context.api, `logger-${runtime}`, file, logging);
    const run = await exec(t.context.api, `logger-${runtime}`, {});
    t.deepEqual(run.status?.logs?.stdout, ["to stdout"]);
    t.deepEqual(run.status?.logs?.stderr, ["to stderr"]);
  });

  test(`${runtime}: secrets from the function and from the call reach context.secrets (v1 scenarios 21-24)`, async (t) => {
    const secrets = client(SecretService, t.context.dispatch.url, t.context.dispatch.token);
    const secretName = `open-sesame-${runtime === "nodejs" ? "js" : "py"}`;
    await secrets.create({
      secret: { meta: { name: secretName }, spec: { data: { password: "OpenSesame" } } },
    });
    const handler =
      runtime === "nodejs"
        ? // biome-ignore lint/suspicious/noTemplateCurlyInString: this is handler source code
          'export default async (context) => ({ message: context.secrets.password ? `The password is ${context.secrets.password}` : "I know nothing" });\n'
        : 'def handle(context, payload):\n    p = context["secrets"].get("password")\n    return {"message": "The password is %s" % p if p else "I know nothing"}\n';
    await deploy(t.context.api, `with-secret-${runtime}`, file, handler, { secrets: [secretName] });
    await deploy(t.context.api, `without-secret-${runtime}`, file, handler);
    t.deepEqual(outputOf(await exec(t.context.api, `with-secret-${runtime}`, {})), {
      message: "The password is OpenSesame",
    });
    t.deepEqual(outputOf(await exec(t.context.api, `without-secret-${runtime}`, {})), {
      message: "I know nothing",
    });
    t.deepEqual(outputOf(await exec(t.context.api, `without-secret-${runtime}`, {}, [secretName])), {
      message: "The password is OpenSesame",
    });
    await secrets.update({
      secret: { meta: { name: secretName }, spec: { data: { password: "OpenSesameStreet" } } },
    });
    t.deepEqual(outputOf(await exec(t.context.api, `with-secret-${runtime}`, {})), {
      message: "The password is OpenSesameStreet",
    });
    const missing = await exec(t.context.api, `without-secret-${runtime}`, {}, ["no-such-secret"]);
    t.is(missing.status?.error?.type, ErrorType.INPUT_ERROR);
    t.regex(missing.status?.error?.message ?? "", /secret "no-such-secret" not found/);
  });

  test(`${runtime}: schemas — invalid input never reaches the handler, invalid output is a FunctionError (v1 scenario 15)`, async (t) => {
    const name = `schemed-${runtime}`;
    await deploy(t.context.api, name, file, handlers[runtime].schemed, {
      schema: {
        in: { type: "object", required: ["name"], properties: { name: { type: "string" } } },
        out: { type: "object", properties: { greeting: { type: "string" } } },
      },
    });
    t.deepEqual(outputOf(await exec(t.context.api, name, { name: "Jon" })), { greeting: "hi Jon" });
    const none = await exec(t.context.api, name);
    t.is(none.status?.error?.type, ErrorType.INPUT_ERROR);
    t.regex(none.status?.error?.message ?? "", /input does not match the function's input schema/);
    t.deepEqual(none.status?.logs?.stdout ?? [], [], "the handler was not called");
    const badOut = await exec(t.context.api, name, { name: "x", bad: true });
    t.is(badOut.status?.error?.type, ErrorType.FUNCTION_ERROR);
    t.regex(badOut.status?.error?.message ?? "", /output does not match/);
  });

  test(`${runtime}: delete removes the function's runs (v1 scenario 11); duplicates are refused (scenario 9)`, async (t) => {
    const { api } = t.context;
    const name = `short-lived-${runtime}`;
    await deploy(api, name, file, code);
    const dup = await rejects(deploy(api, name, file, code));
    t.is(dup.code, Code.AlreadyExists);
    await exec(api, name, {});
    t.is((await api.runs.list({ function: name })).items.length, 1);
    await api.functions.delete({ name });
    t.is((await api.runs.list({ function: name })).items.length, 0);
  });

  test(`${runtime}: update rolls out a new revision without failing calls in flight (v1 scenario 19)`, async (t) => {
    const { api } = t.context;
    const name = `rolling-${runtime}`;
    // The held call lasts as long as the rollout takes, which a loaded machine can stretch
    // past the default 30 s: the function's deadline must not be what this test measures.
    await deploy(api, name, file, handlers[runtime].slowV1, { timeout: { seconds: 600n } });
    // The call is held inside the handler until the new revision serves.
    const inFlight = exec(api, name, { hold: `${t.context.rv.url}/wait/${name}` });
    await t.context.rv.arrived(name);
    const source = await uploadFile(api, file, handlers[runtime].goodbye);
    const current = (await api.functions.get({ name })).function;
    await api.functions.update({ function: { meta: { name }, spec: { ...current?.spec, source } as never } });
    const fn = await settled(api, name);
    t.is(fn.status?.phase, Phase.READY);
    t.is(fn.meta?.generation, 2n);
    t.is(outputOf(await exec(api, name, {})), "Goodbye, Noone from Nowhere");
    t.context.rv.release(name);
    const old = await inFlight;
    t.is(old.status?.phase, Phase.READY, old.status?.error?.message);
    t.is(outputOf(old), "v1");
    const after = await until(api, name, (f) => f.status?.readyInstances === 1);
    t.is(after.status?.readyInstances, 1, "the old revision's instance is gone (no leak)");
  });
}

test("errors: a thrown error is a FunctionError with message and stack", async (t) => {
  await deploy(
    t.context.api,
    "thrower",
    "thrower.js",
    'export default async () => { throw new Error("boom"); };\n',
  );
  const run = await exec(t.context.api, "thrower", {});
  t.is(run.status?.phase, Phase.ERROR);
  t.is(run.status?.error?.type, ErrorType.FUNCTION_ERROR);
  t.is(run.status?.error?.message, "boom");
  t.true((run.status?.error?.stack.length ?? 0) > 0);
});

test("bad input: unknown runtime, oversized bundle, missing bundle, exec of a missing function; nothing half-created", async (t) => {
  const { api } = t.context;
  const source = await uploadFile(api, "x.js", helloJs);
  const runtime = await rejects(
    api.functions.create({ function: { meta: { name: "bad-runtime" }, spec: { runtime: "ruby", source } } }),
  );
  t.is(runtime.code, Code.InvalidArgument);
  t.regex(runtime.rawMessage, /spec\.runtime: "ruby" is not supported \(use nodejs or python3\)/);
  const big = await rejects(
    api.sources.upload({ format: "file", filename: "big.js", data: new Uint8Array(100 * 1024) }),
  );
  t.is(big.code, Code.InvalidArgument);
  t.regex(
    big.rawMessage,
    /the bundle is 0\.1 MiB; the limit is 0\.1 MiB|the bundle is [\d.]+ MiB; the limit is/,
  );
  const missing = await rejects(
    api.functions.create({
      function: {
        meta: { name: "no-bundle" },
        spec: {
          runtime: "nodejs",
          source: { digest: `sha256:${"0".repeat(64)}`, format: "file", filename: "a.js" },
        },
      },
    }),
  );
  t.is(missing.code, Code.InvalidArgument);
  t.regex(missing.rawMessage, /no uploaded bundle has digest/);
  const names = (await api.functions.list({})).items.map((f) => f.meta?.name);
  t.false(names.includes("bad-runtime"));
  t.false(names.includes("no-bundle"));
  const absent = await rejects(exec(api, "does-not-exist", {}));
  t.is(absent.code, Code.NotFound);
  t.regex(absent.rawMessage, /function "does-not-exist" not found in org "default"/);
});

test("kill -9 of a worker during a call: SystemError, then the function recovers", async (t) => {
  const { api } = t.context;
  const code =
    'export default async (c, p) => { if (p.crash) { setTimeout(() => process.kill(process.pid, "SIGKILL"), 50); await new Promise((r) => setTimeout(r, 5000)); } return "ok"; };\n';
  await deploy(api, "crashy", "crashy.js", code);
  const crashed = await exec(api, "crashy", { crash: true });
  t.is(crashed.status?.error?.type, ErrorType.SYSTEM_ERROR);
  t.regex(crashed.status?.error?.message ?? "", /worker stopped during the call.*SIGKILL/);
  const later = await exec(api, "crashy", {});
  t.is(later.status?.phase, Phase.READY);
  t.is(outputOf(later), "ok");
});

test("scale to zero after the idle timeout, and the next call wakes the function", async (t) => {
  const { api } = t.context;
  await deploy(api, "sleepy", "sleepy.js", helloJs, {
    scale: { idleTimeout: { seconds: 0n, nanos: 300_000_000 } },
  });
  const idle = await until(api, "sleepy", (f) => f.status?.readyInstances === 0);
  t.is(idle.status?.phase, Phase.READY, "a function at zero instances is still READY");
  const run = await exec(api, "sleepy", { name: "Arya" });
  t.deepEqual(outputOf(run), { myField: "Hello, Arya from Nowhere" });
});

test("more instances under load: concurrency 1, max 3", async (t) => {
  // Each call holds its instance until all three are inside a handler at once, which
  // only three instances can do: however slow cold starts are, the calls wait for them.
  const { api, rv } = t.context;
  const slow =
    "const instance = crypto.randomUUID();\nexport default async (c, p) => { await fetch(p.hold); return instance; };\n";
  await deploy(api, "busy", "busy.js", slow, { scale: { concurrency: 1, max: 3 } });
  const hold = { hold: `${rv.url}/wait/busy` };
  const calls = [1, 2, 3].map(() => exec(api, "busy", hold));
  await rv.arrived("busy", 3);
  rv.release("busy");
  const runs = await Promise.all(calls);
  const instances = new Set(runs.map((r) => outputOf(r)));
  t.is(instances.size, 3, "three calls at once ran on three instances");
  const fn = (await api.functions.get({ name: "busy" })).function;
  t.true((fn?.status?.readyInstances ?? 0) <= 3);
});

test("async exec returns the run id at once; the record finishes later", async (t) => {
  const { api } = t.context;
  await deploy(
    api,
    "later",
    "later.js",
    'export default async () => { await new Promise((r) => setTimeout(r, 300)); return "done"; };\n',
  );
  const { run } = await api.runs.create({ run: { spec: { function: "later", async: true } } });
  t.is(run?.status?.phase, Phase.INITIALIZED);
  const id = run?.meta?.name ?? "";
  let final = (await api.runs.get({ function: "later", name: id })).run;
  for await (const event of api.runs.watch({ function: "later" }, { signal: AbortSignal.timeout(60_000) })) {
    if (event.object?.meta?.name === id && event.object.status?.phase === Phase.READY) {
      final = event.object;
      break;
    }
  }
  t.is(final?.status?.phase, Phase.READY);
  t.is(final ? outputOf(final) : undefined, "done");
});

test("the activator passes HTTP through to a worker and records an HTTP run", async (t) => {
  const { api } = t.context;
  const secrets = client(SecretService, t.context.dispatch.url, t.context.dispatch.token);
  await secrets.create({ secret: { meta: { name: "web-key" }, spec: { data: { key: "s3cret" } } } });
  const handler =
    "export default async (context, payload) => ({ method: context.http.method, got: payload, key: context.secrets.key, " +
    "leaked: context.http.headers['dispatch-secrets'] ?? context.http.headers['dispatch-token'] ?? null });\n";
  await deploy(api, "web", "web.js", handler, { secrets: ["web-key"] });
  const { SystemService } = await import("@dispatch/proto");
  const system = client(SystemService, t.context.dispatch.url, t.context.dispatch.token);
  const status = await system.getStatus({});
  const activator = status.urls.activator;
  t.truthy(activator);
  t.regex(
    status.components.find((c) => c.name === "driver")?.message ?? "",
    /^\d+ functions?, \d+ instances? running$/,
  );
  const denied = await fetch(`${activator}/default/web/echo`, { method: "POST", body: "{}" });
  t.is(denied.status, 401, "the activator needs a Dispatch token");
  const { OrganizationService, TokenService } = await import("@dispatch/proto");
  await client(OrganizationService, t.context.dispatch.url, t.context.dispatch.token).create({
    organization: { meta: { name: "elsewhere" } },
  });
  const { secret: outsider } = await client(
    TokenService,
    t.context.dispatch.url,
    t.context.dispatch.token,
  ).create({
    name: "outsider",
    org: "elsewhere",
  });
  const foreign = await fetch(`${activator}/default/web/echo`, {
    method: "POST",
    body: "{}",
    headers: { "dispatch-token": outsider },
  });
  t.is(foreign.status, 403, "a token of another org cannot call the function");
  const response = await fetch(`${activator}/default/web/echo`, {
    method: "POST",
    headers: { "content-type": "application/json", "dispatch-token": t.context.dispatch.token },
    body: JSON.stringify({ hello: "world" }),
  });
  t.is(response.status, 200);
  t.deepEqual(await response.json(), {
    method: "POST",
    got: { hello: "world" },
    key: "s3cret",
    leaked: null,
  });
  const runs = (await api.runs.list({ function: "web" })).items;
  t.is(runs.at(-1)?.spec?.trigger, Trigger.HTTP);
  t.is(runs.at(-1)?.status?.phase, Phase.READY);
});

test("logs: a call's output streams to followers as it is written, tagged with the run", async (t) => {
  const { api } = t.context;
  const { LogService, LogStream } = await import("@dispatch/proto");
  const logs = client(LogService, t.context.dispatch.url, t.context.dispatch.token);
  await deploy(
    api,
    "chatty",
    "chatty.js",
    'export default async () => { console.log("first line"); console.error("oops"); return 1; };\n',
  );
  // A first call's lines are there before the tail starts: once the tail has shown them,
  // it is following, and the second call's lines can only come live.
  const first = await exec(api, "chatty", {});
  const abort = new AbortController();
  const seen: { text: string; runId: string; stream: number }[] = [];
  let following = false;
  let run: Awaited<ReturnType<typeof exec>> | undefined;
  for await (const { line } of logs.tail({ function: "chatty", follow: true }, { signal: abort.signal })) {
    if (!line) continue;
    if (line.runId === first.meta?.name) {
      if (!following && line.text === "oops") {
        following = true;
        run = await exec(api, "chatty", {});
      }
      continue;
    }
    seen.push({ text: line.text, runId: line.runId, stream: line.stream });
    if (seen.length >= 2) break;
  }
  abort.abort();
  t.deepEqual(seen.map((l) => l.text).sort(), ["first line", "oops"]);
  t.true(seen.every((l) => l.runId === run?.meta?.name));
  t.true(seen.some((l) => l.stream === LogStream.STDERR));
  const recent = [];
  for await (const { line } of logs.tail({ function: "chatty", follow: false })) recent.push(line?.text);
  t.true(recent.includes("first line"));
});

test("a crashed worker of a min-scale function restarts with backoff, and status says so", async (t) => {
  const { api } = t.context;
  // Instances are told apart by an id of their own (a sandboxed worker's pid is its namespace's).
  const code =
    'const instance = crypto.randomUUID();\nexport default async (c, p) => { if (p.die) process.kill(process.pid, "SIGKILL"); return instance; };\n';
  await deploy(api, "sturdy", "sturdy.js", code, { scale: { min: 1 } });
  const before = outputOf(await exec(api, "sturdy", {}));
  const killed = await exec(api, "sturdy", { die: true });
  t.is(killed.status?.error?.type, ErrorType.SYSTEM_ERROR);
  const crashed = await until(api, "sturdy", (f) =>
    (f.status?.reason ?? []).some((r) => r.includes("crashed")),
  );
  t.regex(crashed.status?.reason.join(" ") ?? "", /crashed \(signal SIGKILL\); restarting in/);
  const back = await until(api, "sturdy", (f) => f.status?.readyInstances === 1);
  t.is(back.status?.phase, Phase.READY);
  t.regex(back.status?.reason.join(" ") ?? "", /crashed \(signal SIGKILL\); restarted$/);
  const after = outputOf(await exec(api, "sturdy", {}));
  t.not(after, before, "a new instance answered");
});

test("runs: retention keeps the newest runs per function", async (t) => {
  const dispatch = await startDispatch({ controlPlane: { runRetention: { maxPerFunction: 3 } } });
  try {
    const api = functionClients(dispatch);
    await deploy(api, "counted", "counted.js", "export default async (c, p) => p;\n");
    for (let i = 1; i <= 55; i++) await exec(api, "counted", i);
    const runs = (await api.runs.list({ function: "counted" })).items;
    // Trimmed to 3 at the 50th run, then 5 more.
    t.is(runs.length, 8);
    t.deepEqual(
      runs.map((r) => outputOf(r)),
      [48, 49, 50, 51, 52, 53, 54, 55],
    );
  } finally {
    await dispatch.stop();
  }
});

test("the activator gives a Python function its secrets and headers, but not the platform's own", async (t) => {
  const { api } = t.context;
  const secrets = client(SecretService, t.context.dispatch.url, t.context.dispatch.token);
  await secrets.create({ secret: { meta: { name: "py-web-key" }, spec: { data: { key: "py-s3cret" } } } });
  const handler = [
    "def handle(context, payload):",
    '    headers = context["http"]["headers"]',
    '    return {"key": context["secrets"].get("key"), "leaked": headers.get("dispatch-secrets"), "run": context["runId"]}',
    "",
  ].join("\n");
  await deploy(api, "py-web", "py_web.py", handler, { secrets: ["py-web-key"] });
  const { SystemService } = await import("@dispatch/proto");
  const activator = (
    await client(SystemService, t.context.dispatch.url, t.context.dispatch.token).getStatus({})
  ).urls.activator;
  const response = await fetch(`${activator}/default/py-web/`, {
    method: "GET",
    headers: { "dispatch-token": t.context.dispatch.token },
  });
  t.is(response.status, 200);
  const body = (await response.json()) as { key: string; leaked: unknown; run: string };
  t.is(body.key, "py-s3cret");
  t.is(body.leaked, null);
  const runs = (await api.runs.list({ function: "py-web" })).items;
  t.is(runs.at(-1)?.meta?.name, body.run, "the worker saw the run id the platform recorded");
});

test("an update that does not load leaves the old revision serving, and status says so", async (t) => {
  const { api } = t.context;
  await deploy(api, "steady", "steady.js", 'export default async () => "v1";\n');
  const broken = await uploadFile(api, "steady.js", "export default async () => {;\n");
  const current = (await api.functions.get({ name: "steady" })).function;
  await api.functions.update({
    function: { meta: { name: "steady" }, spec: { ...current?.spec, source: broken } as never },
  });
  const fn = await settled(api, "steady");
  t.is(fn.status?.phase, Phase.ERROR);
  t.regex(fn.status?.reason.join("\n") ?? "", /revision 2 failed to start: .*SyntaxError/s);
  t.regex(fn.status?.reason.join("\n") ?? "", /revision 1 keeps serving/);
  t.is(outputOf(await exec(api, "steady", {})), "v1");
});

test("shutdown: a call in flight finishes and its run is recorded before the control plane stops", async (t) => {
  const dispatch = await startDispatch();
  const api = functionClients(dispatch);
  let stopped = false;
  try {
    await deploy(
      api,
      "slowpoke",
      "slowpoke.js",
      'export default async (c, p) => { await fetch(p.hold); return "done"; };\n',
    );
    // The call is inside the handler when the stop begins, and finishes after it.
    const inFlight = exec(api, "slowpoke", { hold: `${t.context.rv.url}/wait/slowpoke` });
    await t.context.rv.arrived("slowpoke");
    const closing = dispatch.controlPlane.close(60_000);
    t.context.rv.release("slowpoke");
    const run = await inFlight;
    t.is(run.status?.phase, Phase.READY, run.status?.error?.message);
    t.is(outputOf(run), "done");
    await closing;
    stopped = true;
    // The record reached the store: a new control plane on the same NATS can read it.
    const again = await startDispatch({
      nats: dispatch.nats,
      token: dispatch.token,
      secretKey: dispatch.secretKey,
    });
    try {
      const got = (
        await functionClients(again).runs.get({ function: "slowpoke", name: run.meta?.name ?? "" })
      ).run;
      t.is(got?.status?.phase, Phase.READY);
    } finally {
      await again.controlPlane.close();
    }
  } finally {
    if (!stopped) await dispatch.controlPlane.close();
    await dispatch.nats.stop();
  }
});

test("a failed run keeps what the handler printed before it threw", async (t) => {
  const { api } = t.context;
  await deploy(
    api,
    "noisy-thrower",
    "nt.js",
    'export default async () => { console.log("before the throw"); throw new Error("boom"); };\n',
  );
  const run = await exec(api, "noisy-thrower", {});
  t.is(run.status?.error?.type, ErrorType.FUNCTION_ERROR);
  t.deepEqual(run.status?.logs?.stdout, ["before the throw"]);
});

test("a worker wedged past the deadline is recycled; the next call gets a fresh instance", async (t) => {
  const { api } = t.context;
  const code =
    "const instance = crypto.randomUUID();\nexport default async (c, p) => { if (p.spin) { for (;;) {} } return instance; };\n";
  await deploy(api, "wedged", "wedged.js", code, { timeout: { seconds: 5n } });
  const first = outputOf(await exec(api, "wedged", {}));
  const stuck = await exec(api, "wedged", { spin: true });
  t.is(stuck.status?.error?.type, ErrorType.SYSTEM_ERROR);
  t.regex(stuck.status?.error?.message ?? "", /did not finish within 5s|timed out/);
  // The next call waits for a new instance no longer than the function's 5 s timeout: on a
  // loaded machine a cold start can take longer (or leave the call no time to run), and the
  // call is tried again (the start goes on).
  let next = await exec(api, "wedged", {});
  while (/no instance became ready within|timed out after/.test(next.status?.error?.message ?? "")) {
    next = await exec(api, "wedged", {});
  }
  t.is(next.status?.phase, Phase.READY, next.status?.error?.message);
  t.not(outputOf(next), first, "a new worker process answered");
});

test("a zero timeout is refused with a hint", async (t) => {
  const { api } = t.context;
  const source = await uploadFile(api, "z.js", helloJs);
  const err = await rejects(
    api.functions.create({
      function: {
        meta: { name: "zero-timeout" },
        spec: { runtime: "nodejs", source, timeout: { seconds: 0n } },
      },
    }),
  );
  t.is(err.code, Code.InvalidArgument);
  t.regex(err.rawMessage, /spec\.timeout: must be more than 0/);
});

test("runs of calls still in flight when the function is deleted do not outlive it", async (t) => {
  // A control plane of its own: stopping it is what says every async run has ended.
  const dispatch = await startDispatch();
  const api = functionClients(dispatch);
  const { rv } = t.context;
  try {
    await deploy(
      api,
      "doomed",
      "doomed.js",
      'export default async (c, p) => { await fetch(p.hold); return "late"; };\n',
    );
    const { run } = await api.runs.create({
      run: {
        spec: {
          function: "doomed",
          async: true,
          input: fromJson(ValueSchema, { hold: `${rv.url}/wait/doomed` }),
        },
      },
    });
    t.truthy(run?.meta?.name);
    await rv.arrived("doomed");
    await api.functions.delete({ name: "doomed" });
    rv.release("doomed");
    // close() waits for async runs in flight to finish and store (or drop) their records.
    await dispatch.controlPlane.close(60_000);
    const again = await startDispatch({
      nats: dispatch.nats,
      token: dispatch.token,
      secretKey: dispatch.secretKey,
    });
    try {
      t.deepEqual((await functionClients(again).runs.list({ function: "doomed" })).items, []);
    } finally {
      await again.controlPlane.close();
    }
  } finally {
    await dispatch.controlPlane.close();
    await dispatch.nats.stop();
  }
});

test("the activator releases the slot when the client goes away mid-answer", async (t) => {
  const { api } = t.context;
  const code =
    'export default async (c) => { if (c.http.query.hold) await fetch(c.http.query.hold); return { statusCode: 200, headers: { "content-type": "text/plain" }, body: "x".repeat(c.http.query.hold ? 2000000 : 10) }; };\n';
  await deploy(api, "one-lane", "one.js", code, { scale: { concurrency: 1, max: 1 } });
  const { SystemService } = await import("@dispatch/proto");
  const activator = (
    await client(SystemService, t.context.dispatch.url, t.context.dispatch.token).getStatus({})
  ).urls.activator;
  const headers = { "dispatch-token": t.context.dispatch.token };
  const gone = new AbortController();
  const hold = encodeURIComponent(`${t.context.rv.url}/wait/one-lane`);
  const first = fetch(`${activator}/default/one-lane/?hold=${hold}`, { headers, signal: gone.signal }).then(
    (r) => r.body?.cancel(),
    () => undefined,
  );
  // The client leaves while the handler holds the only slot.
  await t.context.rv.arrived("one-lane");
  gone.abort();
  await first;
  t.context.rv.release("one-lane");
  // With one instance of one slot, this call can only be served if the first released it.
  const second = await fetch(`${activator}/default/one-lane/`, { headers });
  t.is(second.status, 200);
  t.is((await second.text()).length, 10);
});

test("going back to the code that still serves, after a failed update, makes the function READY again", async (t) => {
  const { api } = t.context;
  await deploy(api, "rollback", "rollback.js", 'export default async () => "v1";\n');
  const good = (await api.functions.get({ name: "rollback" })).function?.spec;
  const broken = await uploadFile(api, "rollback.js", "export default async () => {;\n");
  await api.functions.update({
    function: { meta: { name: "rollback" }, spec: { ...good, source: broken } as never },
  });
  t.is((await settled(api, "rollback")).status?.phase, Phase.ERROR);
  await api.functions.update({ function: { meta: { name: "rollback" }, spec: good as never } });
  const fn = await settled(api, "rollback");
  t.is(fn.status?.phase, Phase.READY);
  t.is(fn.status?.observedGeneration, 3n);
  t.deepEqual(fn.status?.reason, []);
  t.is(outputOf(await exec(api, "rollback", {})), "v1");
});

test("a wedged worker of a min-scale function is replaced, and status shows the new one", async (t) => {
  const { api } = t.context;
  const code =
    "const instance = crypto.randomUUID();\nexport default async (c, p) => { if (p.spin) { for (;;) {} } return instance; };\n";
  const fn = await deploy(api, "wedged-min", "wedged.js", code, {
    timeout: { seconds: 1n },
    scale: { min: 1 },
  });
  const before = fn.status?.endpoints ?? [];
  const stuck = await exec(api, "wedged-min", { spin: true });
  t.is(stuck.status?.error?.type, ErrorType.SYSTEM_ERROR);
  const replaced = await until(
    api,
    "wedged-min",
    (f) => f.status?.readyInstances === 1 && f.status.endpoints.join() !== before.join(),
  );
  t.is(replaced.status?.phase, Phase.READY);
  t.is((await exec(api, "wedged-min", {})).status?.phase, Phase.READY);
});

test("the activator breaks the client's connection off when the worker dies mid-answer", async (t) => {
  const { api } = t.context;
  // The worker starts sending a large body and is killed before it is through.
  const code =
    'export default async () => { setTimeout(() => process.kill(process.pid, "SIGKILL"), 0); return { statusCode: 200, headers: { "content-type": "text/plain" }, body: "x".repeat(64 * 1024 * 1024) }; };\n';
  await deploy(api, "dies-mid-answer", "dies.js", code);
  const { SystemService } = await import("@dispatch/proto");
  const activator = (
    await client(SystemService, t.context.dispatch.url, t.context.dispatch.token).getStatus({})
  ).urls.activator;
  const outcome = await fetch(`${activator}/default/dies-mid-answer/`, {
    headers: { "dispatch-token": t.context.dispatch.token },
    // Far past what the answer takes on any machine: only a hang gets here.
    signal: AbortSignal.timeout(100_000),
  })
    .then(async (response) => {
      if (response.status !== 200) return `status ${response.status}`;
      const text = await response.text();
      return `complete body of ${text.length} bytes`;
    })
    .catch((err: Error) => (err.name === "TimeoutError" ? "hung" : "broken off"));
  t.not(outcome, "hung", "the client was left waiting");
  t.not(outcome, `complete body of ${64 * 1024 * 1024} bytes`);
  // The run is written once the activator has broken the answer off: wait for it.
  const run = await finishedRun(api, "dies-mid-answer");
  t.is(run?.status?.phase, Phase.ERROR);
  t.is(run?.status?.error?.type, ErrorType.SYSTEM_ERROR);
});

test("a deleted function's output goes with it: a new function of the same name starts with no lines", async (t) => {
  const { api } = t.context;
  const { LogService } = await import("@dispatch/proto");
  const logs = client(LogService, t.context.dispatch.url, t.context.dispatch.token);
  const code = 'export default async () => { console.log("from the first one"); return 1; };\n';
  await deploy(api, "reborn", "reborn.js", code);
  await exec(api, "reborn", {});
  const lines = async () => {
    const texts: string[] = [];
    for await (const { line } of logs.tail({ function: "reborn", follow: false }))
      texts.push(line?.text ?? "");
    return texts;
  };
  t.deepEqual(await lines(), ["from the first one"]);
  await api.functions.delete({ name: "reborn" });
  // The purge runs when the scheduler lets the function go (after its calls drain): its
  // lines, then its runs. No event says so, so wait until the runs are gone.
  while ((await api.runs.list({ function: "reborn" })).items.length > 0) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await deploy(api, "reborn", "reborn.js", "export default async () => 2;\n");
  t.deepEqual(await lines(), []);
});

test("a handler's own subprocess that reads stdin gets end of input, not the platform's pipe", async (t) => {
  const { api } = t.context;
  const code =
    'import subprocess\n\ndef handle(context, payload):\n    return subprocess.run(["cat"], capture_output=True, timeout=5).returncode\n';
  await deploy(api, "shells-out", "shells_out.py", code);
  const run = await exec(api, "shells-out", {});
  t.is(run.status?.phase, Phase.READY, run.status?.error?.message);
  t.is(outputOf(run), 0);
});
