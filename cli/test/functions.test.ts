import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type ExecutionContext, type TestFn } from "ava";

// The function commands of the real `dispatch` binary against a real control plane
// (which runs the functions as local worker processes) and nats-server. The tests
// in this file share one function, "hello", and run in order.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

interface Context {
  dispatch: TestDispatch;
  dir: string;
}
const test = anyTest as TestFn<Context>;
type T = ExecutionContext<Context>;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const HELLO_JS = `export default async (context, payload) => {
  console.log(\`greeting \${payload.name}\`);
  return { myField: \`Hello, \${payload.name} from \${payload.place}\` };
};
`;

const HELLO_PY = `from greeting import greet


def handle(context, payload):
    print("python says hi")
    return {"myField": greet(payload["name"])}
`;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
  t.context.dir = await mkdtemp(join(tmpdir(), "dispatch-fn-cli-"));
});

test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

function env(t: T, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const all: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: t.context.dir,
    DISPATCH_CONFIG: join(t.context.dir, "config.json"),
    DISPATCH_SERVER: t.context.dispatch.url,
    DISPATCH_TOKEN: t.context.dispatch.token,
    ...extra,
  };
  for (const [key, value] of Object.entries(all)) if (value === undefined) delete all[key];
  return all;
}

/** Runs the binary; the control plane lives in this process, so never block. */
function dispatch(t: T, args: string[], options: { cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { env: env(t), timeout: 90_000, maxBuffer: 16 * 1024 * 1024, cwd: options.cwd ?? t.context.dir },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

async function file(t: T, name: string, text: string | Uint8Array): Promise<string> {
  const path = join(t.context.dir, name);
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, text);
  return path;
}

/** Retries `check` (every 250 ms, at most `attempts` times: 90 s and more) until it passes (things the server does in the background). */
async function eventually<R>(check: () => Promise<R | undefined>, attempts = 360): Promise<R | undefined> {
  for (let i = 0; i < attempts; i++) {
    const result = await check();
    if (result !== undefined) return result;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}

/** A streaming command (--follow) whose output is read as it comes. */
interface Follower {
  child: ChildProcess;
  out(): string;
  waitFor(pattern: RegExp, ms?: number): Promise<boolean>;
  /** Ctrl-C, then the exit status. */
  interrupt(): Promise<number | null>;
}

function follow(t: T, args: string[]): Follower {
  const child = spawn(process.execPath, [bin, ...args], { env: env(t), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    out: () => out,
    waitFor: async (pattern, ms = 90_000) =>
      (await eventually(async () => (pattern.test(out) ? true : undefined), Math.ceil(ms / 250))) === true,
    async interrupt() {
      child.kill("SIGINT");
      return await exited;
    },
  };
}

test.serial(
  "create function from a Node file with --wait is READY; the server names the handler",
  async (t) => {
    const path = await file(t, "hello.js", HELLO_JS);
    const created = await dispatch(t, [
      "create",
      "function",
      "hello",
      path,
      "--wait",
      "--timeout-wait",
      "60s",
    ]);
    t.is(created.code, 0, created.stderr);
    t.is(created.stdout, "function/hello created\n");
    t.regex(created.stderr, /function\/hello ready\n$/);

    const fn = JSON.parse((await dispatch(t, ["get", "fn", "hello", "-o", "json"])).stdout);
    t.is(fn.status.phase, "PHASE_READY");
    t.is(fn.spec.runtime, "nodejs");
    t.is(fn.spec.handler, "hello.js");
    t.like(fn.spec.source, { format: "file", filename: "hello.js" });
    t.regex(fn.spec.source.digest, /^sha256:[0-9a-f]{64}$/);
  },
);

test.serial("exec prints the run as JSON with the function's output, whatever -o says", async (t) => {
  const result = await dispatch(t, ["exec", "hello", "--input", '{"name":"Jon","place":"Winterfell"}']);
  t.is(result.code, 0, result.stderr);
  const run = JSON.parse(result.stdout);
  t.is(run.kind, "Run");
  t.is(run.spec.function, "hello");
  t.is(run.status.output.myField, "Hello, Jon from Winterfell");
  t.is(run.status.phase, "PHASE_READY");

  const yaml = await dispatch(t, ["exec", "hello", "--input", "42", "-o", "yaml"]);
  t.is(yaml.code, 0, yaml.stderr);
  const literal = JSON.parse(yaml.stdout);
  t.is(literal.spec.input, 42, "a literal 42 is an input");
});

test.serial("exec --async prints the run id at once; the run can be read by id", async (t) => {
  const result = await dispatch(t, [
    "exec",
    "hello",
    "--async",
    "--input",
    '{"name":"Arya","place":"Braavos"}',
  ]);
  t.is(result.code, 0, result.stderr);
  const started = JSON.parse(result.stdout);
  t.deepEqual(Object.keys(started), ["run", "function"]);
  t.is(started.function, "hello");
  t.regex(started.run, /^[0-9a-f-]{36}$/);
  const done = await eventually(async () => {
    const got = await dispatch(t, ["get", "runs", "hello", started.run, "-o", "json"]);
    const run = got.code === 0 ? JSON.parse(got.stdout) : undefined;
    return run?.status?.phase === "PHASE_READY" ? run : undefined;
  });
  t.is(done?.status.output.myField, "Hello, Arya from Braavos");
});

test.serial("get runs lists the function's runs; --last -o json is the newest", async (t) => {
  const table = await dispatch(t, ["get", "runs", "hello"]);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^ID\s+FUNCTION\s+TRIGGER\s+STATUS\s+STARTED\s+DURATION\n/);
  t.regex(table.stdout, /\n[0-9a-f-]{36}\s+hello\s+exec\s+READY\s+\d+s ago\s+\S+\n/);

  const marker = await dispatch(t, ["exec", "hello", "--input", '{"name":"Sansa","place":"the Eyrie"}']);
  const id = JSON.parse(marker.stdout).meta.name;
  const last = await dispatch(t, ["get", "runs", "hello", "--last", "-o", "json"]);
  t.is(last.code, 0, last.stderr);
  const run = JSON.parse(last.stdout);
  t.is(run.kind, "Run");
  t.is(run.meta.name, id);
  t.is(run.status.output.myField, "Hello, Sansa from the Eyrie");
});

test.serial("get runs --follow prints new runs as they are written, until Ctrl-C", async (t) => {
  const watcher = follow(t, ["get", "runs", "hello", "--follow", "-o", "json"]);
  try {
    t.true(await watcher.waitFor(/Sansa/), "the existing runs come first");
    await dispatch(t, ["exec", "hello", "--input", '{"name":"Bran","place":"the Wall"}']);
    t.true(await watcher.waitFor(/Hello, Bran from the Wall/), watcher.out());
    const lines = watcher.out().trim().split("\n");
    t.true(
      lines.every((l) => JSON.parse(l).kind === "Run"),
      "one JSON object per line",
    );
  } finally {
    t.is(await watcher.interrupt(), 0, "Ctrl-C ends the follow quietly");
  }
});

test.serial("logs shows what the handler printed, with the run id; --raw only the text", async (t) => {
  let last: Result | undefined;
  const line = await eventually(async () => {
    last = await dispatch(t, ["logs", "hello"]);
    return /greeting Jon/.test(last.stdout) ? last.stdout : undefined;
  });
  t.truthy(
    line,
    `the handler's console.log reaches the function's log; logs printed ${JSON.stringify(last)}`,
  );
  t.regex(line ?? "", /^\d{4}-\d\d-\d\dT\S+Z \S+ stdout \[[0-9a-f-]{36}\] greeting Jon$/m);
  const raw = await dispatch(t, ["logs", "hello", "--raw", "--tail", "100"]);
  t.regex(raw.stdout, /^greeting Jon$/m);

  const tail = follow(t, ["logs", "hello", "-f"]);
  try {
    t.true(await tail.waitFor(/greeting Jon/));
    await dispatch(t, ["exec", "hello", "--input", '{"name":"Hodor","place":"the door"}']);
    t.true(await tail.waitFor(/greeting Hodor/), tail.out());
  } finally {
    t.is(await tail.interrupt(), 0);
  }
});

test.serial(
  "update function changes settings at the read revision and --wait waits for the new generation",
  async (t) => {
    const before = JSON.parse((await dispatch(t, ["get", "fn", "hello", "-o", "json"])).stdout);
    const result = await dispatch(t, [
      "update",
      "function",
      "hello",
      "--env",
      "GREETING=hi",
      "--max-scale",
      "2",
      "--timeout",
      "10s",
      "--wait",
      "--timeout-wait",
      "60s",
    ]);
    t.is(result.code, 0, result.stderr);
    t.is(result.stdout, "function/hello configured\n");
    const after = JSON.parse((await dispatch(t, ["get", "fn", "hello", "-o", "json"])).stdout);
    t.deepEqual(after.spec.env, { GREETING: "hi" });
    t.is(after.spec.timeout, "10s", "--timeout is the function's timeout here");
    t.is(after.spec.scale.max, 2);
    t.is(after.spec.source.digest, before.spec.source.digest, "the code is kept");
    t.true(BigInt(after.meta.generation) > BigInt(before.meta.generation));
    t.is(after.status.observedGeneration, after.meta.generation);

    const again = await dispatch(t, ["update", "function", "hello", join(t.context.dir, "hello.js")]);
    t.is(again.code, 0, again.stderr);
    t.is(again.stdout, "function/hello unchanged\n", "the same bytes are the same source");

    const v2 = await file(t, "v2/hello.js", HELLO_JS.replace("Hello,", "Hi,"));
    const code = await dispatch(t, ["update", "fn", "hello", v2, "--wait", "--timeout-wait", "60s"]);
    t.is(code.code, 0, code.stderr);
    const run = JSON.parse(
      (await dispatch(t, ["exec", "hello", "--input", '{"name":"Jon","place":"Winterfell"}'])).stdout,
    );
    t.is(run.status.output.myField, "Hi, Jon from Winterfell");
  },
);

test("a Python function from a directory with --handler", async (t) => {
  await file(t, "hello-py/hello.py", HELLO_PY);
  await file(t, "hello-py/greeting.py", 'def greet(name):\n    return "Hello, " + name + " from Python"\n');
  await file(t, "hello-py/.git/HEAD", "ref: refs/heads/main\n");
  const created = await dispatch(t, [
    "create",
    "function",
    "hello-py",
    join(t.context.dir, "hello-py"),
    "--handler",
    "hello.handle",
    "--wait",
    "--timeout-wait",
    "60s",
  ]);
  t.is(created.code, 0, created.stderr);
  const fn = JSON.parse((await dispatch(t, ["get", "fn", "hello-py", "-o", "json"])).stdout);
  t.is(fn.spec.runtime, "python3", "inferred from the .py files");
  t.is(fn.spec.source.format, "tar.gz");
  const run = JSON.parse((await dispatch(t, ["exec", "hello-py", "--input", '{"name":"Jon"}'])).stdout);
  t.is(run.status.output.myField, "Hello, Jon from Python");

  // New code in another language: a file gets the server's default handler again…
  const js = await file(t, "to-node/index.js", 'export default () => "now in Node";\n');
  const switched = await dispatch(t, [
    "update",
    "function",
    "hello-py",
    js,
    "--wait",
    "--timeout-wait",
    "60s",
  ]);
  t.is(switched.code, 0, switched.stderr);
  const node = JSON.parse((await dispatch(t, ["get", "fn", "hello-py", "-o", "json"])).stdout);
  t.like(node.spec, { runtime: "nodejs", handler: "index.js" });
  t.is(JSON.parse((await dispatch(t, ["exec", "hello-py"])).stdout).status.output, "now in Node");
  // …while a directory must name its handler.
  const back = await dispatch(t, ["update", "function", "hello-py", join(t.context.dir, "hello-py")]);
  t.is(back.code, 2);
  t.regex(back.stderr, /holds python3 code, but the handler of hello-py \(index\.js\) is for nodejs/);
});

test("a run whose handler throws is still printed, with its error, and exits 0", async (t) => {
  const path = await file(t, "fails.js", 'export default () => { throw new Error("winter came"); };\n');
  const created = await dispatch(t, ["create", "function", "fails", path, "--wait", "--timeout-wait", "60s"]);
  t.is(created.code, 0, created.stderr);
  const result = await dispatch(t, ["exec", "fails"]);
  t.is(result.code, 0, result.stderr);
  const run = JSON.parse(result.stdout);
  t.is(run.status.error.type, "ERROR_TYPE_FUNCTION_ERROR");
  t.regex(run.status.error.message, /winter came/);
});

test("exec of a missing function exits 1 with the server's message", async (t) => {
  const result = await dispatch(t, ["exec", "nobody"]);
  t.is(result.code, 1);
  t.is(result.stdout, "");
  t.regex(result.stderr, /^error: .*"nobody".*not found/);
});

test("create function with an unknown extension exits 2 and creates nothing", async (t) => {
  const path = await file(t, "file.txt", "hello");
  const result = await dispatch(t, ["create", "function", "x", path]);
  t.is(result.code, 2);
  t.regex(
    result.stderr,
    /cannot tell the runtime of .*file\.txt.*give --runtime nodejs or --runtime python3/,
  );
  t.is((await dispatch(t, ["get", "fn", "x"])).code, 1, "nothing was created");
});

test("a bundle over the server's limit is refused with its size and the limit; nothing is created", async (t) => {
  // A file is sent as it is; 33 MiB is over the default 32 MiB limit.
  const path = await file(t, "big/big.js", Buffer.alloc(33 * 1024 * 1024, 7));
  const result = await dispatch(t, ["create", "function", "big", path]);
  t.is(result.code, 1);
  t.regex(result.stderr, /^error: .*big\.js \(33\.0 MiB\) was not uploaded: /);
  t.regex(result.stderr, /33\.0 MiB; the limit is \d+\.\d MiB/);
  t.is((await dispatch(t, ["get", "fn", "big"])).code, 1, "nothing was created");
});

test("apply: spec.sourcePath is packed and uploaded; the same code is unchanged, new code configures", async (t) => {
  await file(t, "app/code/greet.mjs", "export default () => ({ v: 1 });\n");
  const manifest = await file(
    t,
    "app/deploy/functions.yaml",
    "kind: Function\nname: greet\nspec:\n  sourcePath: ../code\n  handler: greet.mjs\n",
  );
  const first = await dispatch(t, ["apply", "-f", manifest, "--wait", "--timeout", "60s"]);
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, "function/greet created\n");
  const fn = JSON.parse((await dispatch(t, ["get", "fn", "greet", "-o", "json"])).stdout);
  t.is(fn.spec.runtime, "nodejs");
  t.is(fn.spec.source.format, "tar.gz");

  const second = await dispatch(t, ["apply", "-f", manifest]);
  t.is(second.code, 0, second.stderr);
  t.is(second.stdout, "function/greet unchanged\n");

  // --work-dir moves the base; a single file gets the server's default handler and
  // still compares unchanged on the next apply.
  const single = await file(
    t,
    "app/single.yaml",
    "kind: Function\nname: single\nspec: {sourcePath: code/greet.mjs}\n",
  );
  const elsewhere = await dispatch(t, ["apply", "-f", single, "--work-dir", join(t.context.dir, "app")], {
    cwd: tmpdir(),
  });
  t.is(elsewhere.code, 0, elsewhere.stderr);
  t.is(
    (await dispatch(t, ["apply", "-f", single, "--work-dir", join(t.context.dir, "app")])).stdout,
    "function/single unchanged\n",
  );

  await file(t, "app/code/greet.mjs", "export default () => ({ v: 2 });\n");
  const third = await dispatch(t, ["apply", "-f", manifest, "--wait", "--timeout", "60s"]);
  t.is(third.code, 0, third.stderr);
  t.is(third.stdout, "function/greet configured\n");
  const run = JSON.parse((await dispatch(t, ["exec", "greet"])).stdout);
  t.deepEqual(run.status.output, { v: 2 });

  const missing = await file(
    t,
    "app/bad.yaml",
    "kind: Function\nname: nohandler\nspec: {sourcePath: code}\n",
  );
  const refused = await dispatch(t, ["apply", "-f", missing]);
  t.is(refused.code, 2);
  t.regex(refused.stderr, /document 1, line 1: Function "nohandler": spec\.sourcePath: code is a directory/);
});

test.serial("delete function removes it and its runs", async (t) => {
  const deleted = await dispatch(t, ["delete", "function", "hello"]);
  t.is(deleted.code, 0, deleted.stderr);
  t.is(deleted.stdout, "function/hello deleted\n");
  // Delete returns once the function's runs are purged.
  const runs = await dispatch(t, ["get", "runs", "-o", "json"]);
  t.is(runs.code, 0, runs.stderr);
  const left = (JSON.parse(runs.stdout).items as { spec: { function: string } }[]).filter(
    (r) => r.spec.function === "hello",
  );
  t.deepEqual(left, [], "the runs went with the function");
  const table = await dispatch(t, ["get", "runs", "hello"]);
  t.is(table.code, 1);
  t.is(table.stdout, "");
  t.is(table.stderr, 'error: function "hello" not found in org "default"\n');
});

test("logs and get runs of a function that does not exist exit 1 as exec does, also with --follow", async (t) => {
  const notFound = 'error: function "helo" not found in org "default"\n';
  for (const args of [
    ["logs", "helo"],
    ["logs", "helo", "-f"],
    ["get", "runs", "helo"],
    ["get", "runs", "helo", "--last"],
    ["get", "runs", "helo", "--follow"],
  ]) {
    const result = await dispatch(t, args);
    t.is(result.code, 1, args.join(" "));
    t.is(result.stdout, "", args.join(" "));
    t.is(result.stderr, notFound, args.join(" "));
  }
  const existing = await file(t, "quiet.js", "export default () => 1;\n");
  t.is((await dispatch(t, ["create", "function", "quiet", existing])).code, 0);
  const none = await dispatch(t, ["get", "runs", "quiet"]);
  t.is(none.code, 0, "a function without runs is not an error");
  t.regex(none.stderr, /No runs of function "quiet" found/);
});

test("a function with a JSON Schema can be updated and applied again: unchanged when nothing changed", async (t) => {
  const schema = await file(
    t,
    "schemed/in.json",
    JSON.stringify({ type: "object", properties: { name: { type: "string" } }, required: ["name"] }),
  );
  const out = await file(t, "schemed/out.json", '{"type": "object"}');
  const code = await file(t, "schemed/hello.js", HELLO_JS);
  const created = await dispatch(t, ["create", "function", "schemed", code, "--schema-in", schema]);
  t.is(created.code, 0, created.stderr);

  const scaled = await dispatch(t, ["update", "function", "schemed", "--max-scale", "3"]);
  t.is(scaled.code, 0, scaled.stderr);
  t.is(scaled.stdout, "function/schemed configured\n");
  const same = await dispatch(t, [
    "update",
    "function",
    "schemed",
    "--max-scale",
    "3",
    "--schema-in",
    schema,
  ]);
  t.is(same.code, 0, same.stderr);
  t.is(same.stdout, "function/schemed unchanged\n");
  const fn = JSON.parse((await dispatch(t, ["get", "fn", "schemed", "-o", "json"])).stdout);
  t.is(fn.spec.scale.max, 3);
  t.deepEqual(fn.spec.schema.in.required, ["name"], "the schema is kept");

  // A function without a schema gets one.
  const plain = await dispatch(t, ["create", "function", "unschemed", code]);
  t.is(plain.code, 0, plain.stderr);
  const added = await dispatch(t, [
    "update",
    "function",
    "unschemed",
    "--schema-in",
    schema,
    "--schema-out",
    out,
  ]);
  t.is(added.code, 0, added.stderr);
  t.is(added.stdout, "function/unschemed configured\n");
  const withSchema = JSON.parse((await dispatch(t, ["get", "fn", "unschemed", "-o", "json"])).stdout);
  t.deepEqual(withSchema.spec.schema.out, { type: "object" });

  // A manifest with spec.schema.in, applied twice.
  const manifest = await file(
    t,
    "schemed/function.yaml",
    [
      "kind: Function",
      "meta: {name: applied}",
      "spec:",
      "  sourcePath: hello.js",
      "  schema:",
      "    in: {type: object, properties: {name: {type: string}}, required: [name]}",
      "",
    ].join("\n"),
  );
  const first = await dispatch(t, ["apply", "-f", manifest]);
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, "function/applied created\n");
  const second = await dispatch(t, ["apply", "-f", manifest]);
  t.is(second.code, 0, second.stderr);
  t.is(second.stdout, "function/applied unchanged\n");
  await file(
    t,
    "schemed/function.yaml",
    (await readFile(manifest, "utf8")).replace("required: [name]", "required: []"),
  );
  const third = await dispatch(t, ["apply", "-f", manifest]);
  t.is(third.stdout, "function/applied configured\n", "a change inside the schema is seen");
});

test("create function says how to change a function that exists", async (t) => {
  const code = await file(t, "twice.js", "export default () => 1;\n");
  t.is((await dispatch(t, ["create", "function", "twice", code])).code, 0);
  const again = await dispatch(t, ["create", "function", "twice", code]);
  t.is(again.code, 1);
  t.is(
    again.stderr,
    'error: function "twice" in org "default" already exists; change it with ' +
      '"dispatch update function twice ..." or "dispatch apply -f FILE"\n',
  );
});

test("a function that names a secret that does not exist is created with a warning; deleting a named secret warns", async (t) => {
  const code = await file(t, "needy.js", "export default (context) => Object.keys(context.secrets);\n");
  const created = await dispatch(t, ["create", "function", "needy", code, "--secret", "nosuchsecret"]);
  t.is(created.code, 0, created.stderr);
  t.is(created.stdout, "function/needy created\n");
  t.is(
    created.stderr,
    'warning: function "needy" names secret "nosuchsecret", which does not exist in org "default": its calls ' +
      'fail until it does; create it with "dispatch create secret nosuchsecret --from-literal KEY=VALUE --org default"\n',
  );

  t.is((await dispatch(t, ["create", "secret", "needed", "--from-literal", "k=v"])).code, 0);
  const updated = await dispatch(t, [
    "update",
    "function",
    "needy",
    "--secret",
    "needed",
    "--secret",
    "gone",
  ]);
  t.is(updated.code, 0, updated.stderr);
  t.regex(updated.stderr, /^warning: function "needy" names secret "gone", which does not exist/);
  t.notRegex(updated.stderr, /"needed"/, "a secret that exists is not mentioned");

  const deleted = await dispatch(t, ["delete", "secret", "needed"]);
  t.is(deleted.code, 0, deleted.stderr);
  t.is(deleted.stdout, "secret/needed deleted\n");
  t.regex(deleted.stderr, /^warning: secret "needed" was deleted, but function "needy" still names it: /);
  t.regex(deleted.stderr, /"dispatch update function needy --secret OTHER --org default"/);
});

test("secret warnings say which org to act on, and delete -f warns only about secrets it deleted", async (t) => {
  t.is((await dispatch(t, ["create", "org", "acme"])).code, 0);
  const code = await file(t, "elsewhere.js", "export default () => 1;\n");
  const created = await dispatch(t, [
    "create",
    "function",
    "elsewhere",
    code,
    "--secret",
    "zz",
    "--org",
    "acme",
  ]);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stderr, /"dispatch create secret zz --from-literal KEY=VALUE --org acme"/);

  const manifest = await file(
    t,
    "never-there.yaml",
    "kind: Secret\nmeta:\n  name: zz\n  org: acme\nspec:\n  data:\n    k: v\n",
  );
  const deleted = await dispatch(t, ["delete", "-f", manifest, "--ignore-not-found"]);
  t.is(deleted.code, 0, deleted.stderr);
  t.is(deleted.stderr, "", "nothing was deleted, so nothing is warned about");
});
