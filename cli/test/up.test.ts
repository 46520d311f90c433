import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@dispatch/testkit";
import test from "ava";

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

test("dispatch up: Ctrl-C (SIGINT to the whole process group) lets a call in flight finish", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const args = [
    "--data-dir",
    join(dir, "data"),
    "--port",
    "0",
    "--nats-url",
    `nats://127.0.0.1:${await freePort()}`,
  ];
  const up = await startUp(env, args, true);
  const pid = up.child.pid ?? 0;
  t.teardown(() => {
    if (isRunning(pid)) process.kill(-pid, "SIGKILL");
  });
  // The handler marks that the call reached it, so the signal comes while it runs.
  const marker = join(dir, "called");
  const handler = join(dir, "slow.js");
  await writeFile(
    handler,
    `import { writeFileSync } from "node:fs";\nexport default async () => { writeFileSync(${JSON.stringify(marker)}, "x"); await new Promise((r) => setTimeout(r, 1500)); return "finished"; };\n`,
  );
  const created = await run(env, ["create", "function", "slow", handler, "--min-scale", "1", "--wait"]);
  t.is(created.code, 0, created.stderr);
  const call = run(env, ["exec", "slow", "-o", "json"]);
  while (!(await stat(marker).catch(() => undefined)))
    await new Promise((resolve) => setTimeout(resolve, 20));
  process.kill(-pid, "SIGINT");
  const result = await call;
  t.is(result.code, 0, result.stderr);
  t.is(JSON.parse(result.stdout).status.output, "finished");
  t.is(await up.exited, 0, up.output());
  t.notRegex(up.output(), /crashed/);
});

test("dispatch up: when its terminal closes (SIGHUP) it stops its workers and its nats-server too", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const natsPort = await freePort();
  const args = ["--data-dir", join(dir, "data"), "--port", "0", "--nats-url", `nats://127.0.0.1:${natsPort}`];
  const up = await startUp(env, args, true);
  const pid = up.child.pid ?? 0;
  t.teardown(() => {
    if (isRunning(pid)) process.kill(-pid, "SIGKILL");
  });
  const handler = join(dir, "hi.js");
  await writeFile(handler, 'export default async () => "hi";\n');
  t.is((await run(env, ["create", "function", "hi", handler, "--min-scale", "1", "--wait"])).code, 0);
  const fn = JSON.parse((await run(env, ["get", "function", "hi", "-o", "json"])).stdout);
  const worker: string = fn.status.endpoints[0];
  t.is((await fetch(`${worker}/healthz`)).status, 200);
  t.true(await listens(natsPort));
  process.kill(pid, "SIGHUP");
  t.is(await up.exited, 0, up.output());
  await t.throwsAsync(fetch(`${worker}/healthz`), undefined, "the worker is gone");
  t.false(await listens(natsPort), "nats-server is gone");
});

test("dispatch up: killed with SIGKILL, it leaves no worker running", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const natsPort = await freePort();
  const args = ["--data-dir", join(dir, "data"), "--port", "0", "--nats-url", `nats://127.0.0.1:${natsPort}`];
  const up = await startUp(env, args, true);
  const pid = up.child.pid ?? 0;
  t.teardown(() => {
    if (isRunning(pid)) process.kill(-pid, "SIGKILL");
  });
  const handler = join(dir, "hi.js");
  await writeFile(handler, 'export default async () => "hi";\n');
  t.is((await run(env, ["create", "function", "hi", handler, "--min-scale", "1", "--wait"])).code, 0);
  const fn = JSON.parse((await run(env, ["get", "function", "hi", "-o", "json"])).stdout);
  const port = Number(new URL(fn.status.endpoints[0]).port);
  t.true(await listens(port));
  process.kill(pid, "SIGKILL");
  await up.exited;
  // The worker notices its lifeline pipe ended and drains (nothing is in flight: it exits at once).
  const deadline = Date.now() + 10_000;
  while ((await listens(port)) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  t.false(await listens(port), "the worker is gone");
  // nats-server outlives a SIGKILLed `dispatch up` (the next `dispatch up` finds it and uses it).
  await new Promise((resolve) => execFile("pkill", ["-f", join(dir, "data", "nats")], resolve));
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
