import { execFile } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type ExecutionContext, type TestFn } from "ava";

// How the real `dispatch` binary makes requests: every one is bounded by
// --request-timeout (exec by the function's timeout plus that margin), lists
// follow every page, and a refused token is reported with where it came from.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

interface Context {
  dispatch: TestDispatch;
  dir: string;
  /** A server that accepts requests and never answers them. */
  silent: Server;
  silentUrl: string;
  /** Requests the silent server has received (and left hanging). */
  hanging: IncomingMessage[];
}
const test = anyTest as TestFn<Context>;
type T = ExecutionContext<Context>;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

test.before(async (t) => {
  // Pages of at most 3, so a handful of objects spans several pages.
  t.context.dispatch = await startDispatch({ controlPlane: { pageSize: { default: 2, max: 3 } } });
  t.context.dir = await mkdtemp(join(tmpdir(), "dispatch-requests-"));
  t.context.hanging = [];
  t.context.silent = createServer((req) => {
    t.context.hanging.push(req);
  });
  t.context.silent.listen(0, "127.0.0.1");
  await once(t.context.silent, "listening");
  t.context.silentUrl = `http://127.0.0.1:${(t.context.silent.address() as AddressInfo).port}`;
});

test.after.always(async (t) => {
  t.context.silent?.closeAllConnections();
  t.context.silent?.close();
  await t.context.dispatch?.stop();
});

/** Runs the binary; the control plane lives in this process, so never block. */
function dispatch(t: T, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: t.context.dir,
    DISPATCH_CONFIG: join(t.context.dir, "config.json"),
    DISPATCH_SERVER: t.context.dispatch.url,
    DISPATCH_TOKEN: t.context.dispatch.token,
    ...extraEnv,
  };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { env, timeout: 90_000, maxBuffer: 16 * 1024 * 1024, cwd: t.context.dir },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

test("a server that never answers: the CLI gives up after --request-timeout, says what to check, exits 1", async (t) => {
  const result = await dispatch(t, ["get", "functions", "--request-timeout", "1s"], {
    DISPATCH_SERVER: t.context.silentUrl,
  });
  t.is(result.code, 1, result.stderr);
  t.regex(
    result.stderr,
    new RegExp(
      `^error: no answer from Dispatch at ${t.context.silentUrl.replace(/\./g, "\\.")} within 1s \\(dispatch\\.v1\\.FunctionService\\.List\\)`,
    ),
  );
  t.regex(result.stderr, /dispatch status/);
  t.regex(result.stderr, /--request-timeout \(env DISPATCH_REQUEST_TIMEOUT\)/);
  t.true(t.context.hanging.length > 0, "the request reached the silent server");
});

test("DISPATCH_REQUEST_TIMEOUT sets the timeout; exec is bounded too (its function lookup first)", async (t) => {
  const result = await dispatch(t, ["exec", "hello"], {
    DISPATCH_SERVER: t.context.silentUrl,
    DISPATCH_REQUEST_TIMEOUT: "1s",
  });
  t.is(result.code, 1, result.stderr);
  t.regex(result.stderr, /^error: no answer from Dispatch at .* within 1s/);
  const bad = await dispatch(t, ["get", "functions"], { DISPATCH_REQUEST_TIMEOUT: "soon" });
  t.is(bad.code, 2);
  t.regex(bad.stderr, /DISPATCH_REQUEST_TIMEOUT "soon" is not a duration/);
});

test("exec waits for the function's own timeout, not the request timeout", async (t) => {
  const code = await file(
    t,
    "slow.js",
    "export default async (context, payload) => { await new Promise((r) => setTimeout(r, payload.ms)); return 'done'; };\n",
  );
  const created = await dispatch(t, ["create", "function", "slow", code, "--timeout", "60s", "--wait"]);
  t.is(created.code, 0, created.stderr);
  // Warm it first, so the timed call below is the function's time alone.
  t.is((await dispatch(t, ["exec", "slow", "--input", '{"ms": 0}'])).code, 0);
  // The call takes longer than --request-timeout (the function sleeps 3s).
  const run = await dispatch(t, ["exec", "slow", "--input", '{"ms": 3000}', "--request-timeout", "1s"]);
  t.is(run.code, 0, run.stderr);
  t.is(JSON.parse(run.stdout).status.output, "done");
});

test("lists follow every page: more objects and runs than one page are all printed", async (t) => {
  const names = Array.from({ length: 8 }, (_, i) => `paged-${i}`);
  for (const name of names) {
    const created = await dispatch(t, ["create", "secret", name, "--from-literal", "k=v"]);
    t.is(created.code, 0, created.stderr);
  }
  const secrets = await dispatch(t, ["get", "secrets", "-o", "json"]);
  t.is(secrets.code, 0, secrets.stderr);
  const listed = (JSON.parse(secrets.stdout).items as { meta: { name: string } }[]).map((s) => s.meta.name);
  for (const name of names) t.true(listed.includes(name), `${name} is listed`);

  const code = await file(t, "paged.js", "export default async () => 'ok';\n");
  t.is((await dispatch(t, ["create", "function", "paged", code, "--wait"])).code, 0);
  for (let i = 0; i < 7; i++) t.is((await dispatch(t, ["exec", "paged"])).code, 0);
  const runs = await dispatch(t, ["get", "runs", "paged", "-o", "json"]);
  t.is(runs.code, 0, runs.stderr);
  t.is(JSON.parse(runs.stdout).items.length, 7, "every run, over three pages");
});

test("a refused token: the error names where the token came from", async (t) => {
  const fromFlag = await dispatch(t, ["get", "secrets", "--token", "dsp_wrong"]);
  t.is(fromFlag.code, 1);
  t.regex(fromFlag.stderr, /^error: the token is not valid/);
  t.regex(fromFlag.stderr, /the token came from the --token flag/);

  const fromEnv = await dispatch(t, ["get", "secrets"], { DISPATCH_TOKEN: "dsp_wrong" });
  t.regex(fromEnv.stderr, /the token came from the environment variable DISPATCH_TOKEN/);

  const config = join(t.context.dir, "stale-config.json");
  await writeFile(
    config,
    JSON.stringify({
      current: "local",
      contexts: { local: { server: t.context.dispatch.url, token: "dsp_stale" } },
    }),
  );
  const fromContext = await dispatch(t, ["get", "secrets"], {
    DISPATCH_TOKEN: undefined,
    DISPATCH_CONFIG: config,
  });
  t.is(fromContext.code, 1);
  t.true(fromContext.stderr.includes(`the token came from context "local" in ${config}`), fromContext.stderr);
  t.regex(fromContext.stderr, /dispatch context set NAME --server URL --token TOKEN/);
  t.false(/admin\.token|\/data\//.test(fromContext.stderr), "the server's message names no file path");
});

async function file(t: T, name: string, text: string): Promise<string> {
  const path = join(t.context.dir, name);
  await writeFile(path, text);
  return path;
}
