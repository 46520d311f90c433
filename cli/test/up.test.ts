import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, readlink, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startNats } from "@dispatch/testkit";
import test, { type ExecutionContext } from "ava";

// `dispatch up` as a user runs it: a real process, an embedded nats-server.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

interface Up {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

async function startUp(env: NodeJS.ProcessEnv, args: string[], ownGroup = false): Promise<Up> {
  // ownGroup: a process group of its own, as a shell gives a foreground job (Ctrl-C signals the group).
  const child = spawn(process.execPath, [bin, "up", ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: ownGroup,
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Dispatch is up.")) resolve();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) => reject(new Error(`dispatch up exited (${code}):\n${output}`)));
  });
  return { child, output: () => output, exited };
}

function run(
  env: NodeJS.ProcessEnv,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Whether something accepts TCP connections on the loopback port. */
function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Host pids of the processes in the pid namespace `ns` ("pid:[4026532177]"). */
async function processesIn(ns: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (/^\d+$/.test(entry) && (await readlink(`/proc/${entry}/ns/pid`).catch(() => "")) === ns) {
      pids.push(Number(entry));
    }
  }
  return pids;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("dispatch up: embedded nats-server, admin token, CLI context, clean stop, data kept", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const natsPort = await freePort();
  const apiPort = await freePort();
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const args = [
    "--data-dir",
    join(dir, "data"),
    "--port",
    String(apiPort),
    "--nats-url",
    `nats://127.0.0.1:${natsPort}`,
  ];

  const first = await startUp(env, args);
  t.regex(first.output(), /starting nats-server with JetStream/);
  t.regex(first.output(), new RegExp(`api\\s+http://127.0.0.1:${apiPort}`));
  const token = (await stat(join(dir, "data", "admin.token"))).mode & 0o777;
  t.is(token, 0o600, "the admin token file is private");
  t.is((await stat(join(dir, "config.json"))).mode & 0o777, 0o600);
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  t.is(config.current, "local");
  t.is(config.contexts.local.server, `http://127.0.0.1:${apiPort}`);

  const status = await run(env, ["status", "-o", "json"]);
  t.is(status.code, 0, status.stderr);
  const urls = JSON.parse(status.stdout);
  t.is(urls.api, `http://127.0.0.1:${apiPort}`);
  t.is(urls.nats, `nats://127.0.0.1:${natsPort}`);
  t.regex(urls.activator, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.is(urls.driver, "local");
  t.regex(urls.isolation, /^(bubblewrap|process)$/, "status says how functions are isolated");
  t.regex(first.output(), /isolation: (bubblewrap|process): /);
  t.is((await run(env, ["create", "secret", "kept", "--from-literal", "k=v"])).code, 0);

  const nats = await run(env, ["status"]);
  t.is(nats.code, 0);
  first.child.kill("SIGTERM");
  t.is(await first.exited, 0, first.output());
  t.regex(first.output(), /stopped/);
  const down = await run(env, ["get", "secrets"]);
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot reach Dispatch/);

  const second = await startUp(env, args);
  const kept = await run(env, ["get", "secret", "kept", "--reveal", "-o", "json"]);
  t.is(JSON.parse(kept.stdout).spec.data.k, "v", "data and the secret key survive a restart");
  second.child.kill("SIGINT");
  t.is(await second.exited, 0);
  t.false(isRunning(second.child.pid ?? 0));
});

test("dispatch up: no NATS and no nats-server is a clear error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const result = await run(env, [
    "up",
    "--data-dir",
    join(dir, "data"),
    "--nats-url",
    `nats://127.0.0.1:${await freePort()}`,
    "--nats-server-bin",
    join(dir, "no-such-nats-server"),
  ]);
  t.is(result.code, 1);
  t.regex(
    result.stderr,
    /is not installed\. Install it \(Debian\/Ubuntu: sudo apt-get install nats-server\)/,
  );
});

/**
 * `dispatch up` in a process group of its own, as a shell runs a foreground job
 * (Ctrl-C signals the group), with its own data dir; the group is killed at teardown.
 */
async function upInOwnGroup(t: ExecutionContext, natsUrl: string) {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const up = await startUp(
    env,
    ["--data-dir", join(dir, "data"), "--port", "0", "--nats-url", natsUrl],
    true,
  );
  const pid = up.child.pid ?? 0;
  t.teardown(() => {
    if (isRunning(pid)) process.kill(-pid, "SIGKILL");
  });
  return { dir, env, up, pid };
}

/** Creates function `name` from `code` with one instance kept, waits for READY; its worker's URL. */
async function deployOne(
  t: ExecutionContext,
  { dir, env }: { dir: string; env: NodeJS.ProcessEnv },
  name: string,
  code: string,
): Promise<string> {
  const handler = join(dir, `${name}.js`);
  await writeFile(handler, code);
  const created = await run(env, ["create", "function", name, handler, "--min-scale", "1", "--wait"]);
  t.is(created.code, 0, created.stderr);
  return JSON.parse((await run(env, ["get", "function", name, "-o", "json"])).stdout).status.endpoints[0];
}

test("dispatch up: Ctrl-C (SIGINT to the whole process group) lets a call in flight finish", async (t) => {
  const ctx = await upInOwnGroup(t, `nats://127.0.0.1:${await freePort()}`);
  // The handler marks that the call reached it, so the signal comes while it runs.
  // (Over loopback: a sandboxed function cannot write where this test could look.)
  let markCalled!: () => void;
  const called = new Promise<void>((resolve) => {
    markCalled = resolve;
  });
  const marker = createServer((_, res) => {
    markCalled();
    res.end();
  });
  await new Promise<void>((resolve) => marker.listen(0, "127.0.0.1", resolve));
  t.teardown(() => marker.close());
  const markerUrl = `http://127.0.0.1:${(marker.address() as AddressInfo).port}/called`;
  await deployOne(
    t,
    ctx,
    "slow",
    `export default async () => { await fetch(${JSON.stringify(markerUrl)}); await new Promise((r) => setTimeout(r, 1500)); return "finished"; };\n`,
  );
  const call = run(ctx.env, ["exec", "slow", "-o", "json"]);
  await called;
  process.kill(-ctx.pid, "SIGINT");
  const result = await call;
  t.is(result.code, 0, result.stderr);
  t.is(JSON.parse(result.stdout).status.output, "finished");
  t.is(await ctx.up.exited, 0, ctx.up.output());
  t.notRegex(ctx.up.output(), /crashed/);
});

test("dispatch up: when its terminal closes (SIGHUP) it stops its workers and its nats-server too", async (t) => {
  const natsPort = await freePort();
  const ctx = await upInOwnGroup(t, `nats://127.0.0.1:${natsPort}`);
  const worker = await deployOne(t, ctx, "hi", 'export default async () => "hi";\n');
  t.is((await fetch(`${worker}/healthz`)).status, 200);
  t.true(await listens(natsPort));
  process.kill(ctx.pid, "SIGHUP");
  t.is(await ctx.up.exited, 0, ctx.up.output());
  await t.throwsAsync(fetch(`${worker}/healthz`), undefined, "the worker is gone");
  t.false(await listens(natsPort), "nats-server is gone");
});

test("dispatch up: killed with SIGKILL, it leaves no worker running", async (t) => {
  // A nats-server of the test's own: one `dispatch up` started would outlive it (by design).
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const ctx = await upInOwnGroup(t, nats.url);
  const code =
    'import { readlinkSync } from "node:fs";\nexport default async () => ({ pid: process.pid, ns: readlinkSync("/proc/self/ns/pid") });\n';
  const worker = await deployOne(t, ctx, "hi", code);
  const exec = await run(ctx.env, ["exec", "hi", "-o", "json"]);
  const { pid, ns } = JSON.parse(exec.stdout).status.output as { pid: number; ns: string };
  // In a sandbox the worker has a pid namespace of its own: its pids are found by namespace.
  const workerPids = ns === (await readlink("/proc/self/ns/pid")) ? [pid] : await processesIn(ns);
  t.true(workerPids.length > 0 && workerPids.every(isRunning));
  process.kill(ctx.pid, "SIGKILL");
  await ctx.up.exited;
  // The worker sees its lifeline pipe end and drains (nothing in flight: it exits at once).
  // It is not this test's child, so no exit event reaches here: look until it is gone.
  while (workerPids.some(isRunning)) await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(await listens(Number(new URL(worker).port)), "nothing listens where the worker was");
});

test("dispatch up: Ctrl-C while it is still starting stops what it started", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const natsPort = await freePort();
  const args = [
    "up",
    "--data-dir",
    join(dir, "data"),
    "--port",
    "0",
    "--nats-url",
    `nats://127.0.0.1:${natsPort}`,
  ];
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let output = "";
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("starting nats-server")) resolve();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
  });
  child.kill("SIGINT");
  t.is(await exited, 0, output);
  t.false(await listens(natsPort), "the nats-server it started is stopped");
});
