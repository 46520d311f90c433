import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, readlink, stat, writeFile } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort, stablePort, startNats } from "@dispatch/testkit";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect as connectNats, errors as natsErrors } from "@nats-io/transport-node";
import test, { type ExecutionContext } from "ava";

// `dispatch up` as a user runs it: a real process, its own nats-server.
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

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
async function makeCertificates(dir: string) {
  await mkdir(dir, { recursive: true });
  const at = (name: string) => join(dir, name);
  const openssl = (args: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile("openssl", args, { cwd: dir }, (error, _stdout, stderr) =>
        error ? reject(new Error(`openssl ${args.join(" ")}: ${stderr}`)) : resolve(),
      ),
    );
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...key,
    "-keyout",
    at("ca.key"),
    "-out",
    at("ca.pem"),
    "-days",
    "2",
    "-subj",
    "/CN=test-ca",
  ]);
  for (const [name, ext] of [
    ["server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"],
    ["client", "extendedKeyUsage=clientAuth\n"],
  ] as const) {
    await writeFile(at(`${name}.ext`), ext);
    await openssl([
      "req",
      ...key,
      "-keyout",
      at(`${name}.key`),
      "-out",
      at(`${name}.csr`),
      "-subj",
      `/CN=${name}`,
    ]);
    await openssl([
      "x509",
      "-req",
      "-in",
      at(`${name}.csr`),
      "-CA",
      at("ca.pem"),
      "-CAkey",
      at("ca.key"),
      "-CAcreateserial",
      "-out",
      at(`${name}.pem`),
      "-days",
      "2",
      "-extfile",
      at(`${name}.ext`),
    ]);
  }
  return {
    ca: at("ca.pem"),
    server: { cert: at("server.pem"), key: at("server.key") },
    client: { cert: at("client.pem"), key: at("client.key") },
  };
}

/** Stops the nats-server a killed `dispatch up` left running in `dataDir` (its own process group survives). */
function stopLeftNats(dataDir: string): void {
  try {
    process.kill(Number(readFileSync(join(dataDir, "nats", "nats-server.pid"), "utf8")), "SIGTERM");
  } catch {
    // none left
  }
}

/** The URL `dispatch up` printed for a component ("  nats  nats://127.0.0.1:4222"). */
function printedUrl(output: string, component: string): string {
  const url = new RegExp(`^\\s+${component}\\s+(\\S+)$`, "m").exec(output)?.[1];
  if (!url) throw new Error(`dispatch up printed no ${component} URL:\n${output}`);
  return url;
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

test("dispatch up: its own nats-server with credentials, admin token, CLI context, clean stop; a restart keeps ports, credentials and data", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const apiPort = await stablePort();
  const env = {
    ...process.env,
    DISPATCH_CONFIG: join(dir, "config.json"),
    HOME: dir,
    DISPATCH_GATEWAY_PORT: "0",
    DISPATCH_GATEWAY_TLS_PORT: "0",
    DISPATCH_EVENTS_PORT: "0",
  };
  const data = join(dir, "data");
  const args = ["--data-dir", data, "--port", String(apiPort)];

  const first = await startUp(env, args);
  t.teardown(() => first.child.kill("SIGTERM"));
  t.regex(first.output(), /starting nats-server with JetStream/);
  t.regex(first.output(), new RegExp(`api\\s+http://127.0.0.1:${apiPort}`));
  const natsUrl = printedUrl(first.output(), "nats");
  const activatorUrl = printedUrl(first.output(), "activator");
  t.is((await stat(join(data, "admin.token"))).mode & 0o777, 0o600, "the admin token file is private");
  t.is((await stat(join(data, "nats-credentials.json"))).mode & 0o777, 0o600, "so are the NATS credentials");
  t.is((await stat(join(data, "nats", "nats-server.conf"))).mode & 0o777, 0o600, "and the server's config");
  t.is((await stat(join(dir, "config.json"))).mode & 0o777, 0o600);
  const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  t.is(config.current, "local");
  t.is(config.contexts.local.server, `http://127.0.0.1:${apiPort}`);

  // Its nats-server lets in only who has the credentials.
  const refused = await t.throwsAsync(connectNats({ servers: natsUrl, reconnect: false }));
  t.true(refused instanceof natsErrors.AuthorizationError, String(refused));
  const credentials = JSON.parse(await readFile(join(data, "nats-credentials.json"), "utf8"));
  const nc = await connectNats({ servers: natsUrl, user: credentials.user, pass: credentials.password });
  t.true((await (await jetstreamManager(nc)).streams.names().next()).includes("KV_tokens"));
  await nc.close();

  const status = await run(env, ["status", "-o", "json"]);
  t.is(status.code, 0, status.stderr);
  const urls = JSON.parse(status.stdout);
  t.is(urls.api, `http://127.0.0.1:${apiPort}`);
  t.is(urls.nats, natsUrl);
  t.is(urls.activator, activatorUrl);
  t.is(urls.driver, "local");
  t.regex(urls.isolation, /^(bubblewrap|process)$/, "status says how functions are isolated");
  t.regex(first.output(), /isolation: (bubblewrap|process): /);
  t.is((await run(env, ["create", "secret", "kept", "--from-literal", "k=v"])).code, 0);
  // A second one on the same data dir would share its NATS: refused, and the first one keeps going.
  const twice = await run(env, ["up", ...args.slice(0, 2), "--port", "0"]);
  t.is(twice.code, 1);
  t.regex(
    twice.stderr,
    new RegExp(`another dispatch up \\(pid ${first.child.pid}\\) is running with the data dir`),
  );
  t.is((await run(env, ["get", "secret", "kept"])).code, 0);

  first.child.kill("SIGTERM");
  t.is(await first.exited, 0, first.output());
  t.regex(first.output(), /stopped/);
  t.false(await listens(Number(new URL(natsUrl).port)), "its nats-server stopped with it");
  const down = await run(env, ["get", "secrets"]);
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot reach Dispatch/);

  const second = await startUp(env, args);
  t.teardown(() => second.child.kill("SIGTERM"));
  t.is(printedUrl(second.output(), "nats"), natsUrl, "the same NATS port again");
  t.is(printedUrl(second.output(), "activator"), activatorUrl, "the same activator port again");
  t.deepEqual(JSON.parse(await readFile(join(data, "nats-credentials.json"), "utf8")), credentials);
  const kept = await run(env, ["get", "secret", "kept", "--reveal", "-o", "json"]);
  t.is(JSON.parse(kept.stdout).spec.data.k, "v", "data and the secret key survive a restart");
  second.child.kill("SIGINT");
  t.is(await second.exited, 0);
  t.false(isRunning(second.child.pid ?? 0));
});

test("dispatch up: a NATS it did not start is never used, even where its own listened before", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = {
    ...process.env,
    DISPATCH_CONFIG: join(dir, "config.json"),
    HOME: dir,
    DISPATCH_GATEWAY_PORT: "0",
    DISPATCH_GATEWAY_TLS_PORT: "0",
    DISPATCH_EVENTS_PORT: "0",
  };
  const data = join(dir, "data");
  // Someone else's NATS, open to all, on the port dispatch up used last time.
  const foreign = await startNats({ auth: false });
  t.teardown(() => foreign.stop());
  await mkdir(data, { recursive: true, mode: 0o700 });
  await writeFile(join(data, "ports.json"), JSON.stringify({ nats: foreign.port }));

  const asked = await run(env, [
    "up",
    "--data-dir",
    data,
    "--port",
    "0",
    "--nats-port",
    String(foreign.port),
  ]);
  t.is(asked.code, 1);
  t.regex(asked.stderr, new RegExp(`port ${foreign.port} \\(--nats-port\\) is in use by another program`));

  const up = await startUp(env, ["--data-dir", data, "--port", "0"]);
  t.teardown(() => up.child.kill("SIGTERM"));
  t.regex(up.output(), new RegExp(`port ${foreign.port}, used last time, is taken by another program`));
  t.not(printedUrl(up.output(), "nats"), foreign.url);
  const nc = await connectNats(foreign.connectOptions);
  const streams = await (await jetstreamManager(nc)).streams.names().next();
  await nc.close();
  t.deepEqual(streams, [], "nothing of Dispatch went into the foreign NATS");
  up.child.kill("SIGTERM");
  t.is(await up.exited, 0, up.output());
});

test("dispatch up --nats-url: a NATS that wants credentials it was not given is a clear error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = {
    ...process.env,
    DISPATCH_CONFIG: join(dir, "config.json"),
    HOME: dir,
    DISPATCH_GATEWAY_PORT: "0",
    DISPATCH_GATEWAY_TLS_PORT: "0",
    DISPATCH_EVENTS_PORT: "0",
  };
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const result = await run(env, [
    "up",
    "--data-dir",
    join(dir, "data"),
    "--port",
    "0",
    "--nats-url",
    nats.url,
  ]);
  t.is(result.code, 1);
  t.regex(result.stderr, new RegExp(`NATS at ${nats.url} refused the credentials`));
  const stray = await run(env, ["up", "--data-dir", join(dir, "data"), "--nats-creds", join(dir, "x.creds")]);
  t.is(stray.code, 1);
  t.regex(stray.stderr, /--nats-creds is for a NATS named with --nats-url/);
});

test("dispatch up --nats-url tls://… with a password in the URL and --nats-tls-ca/-cert/-key: logs in over TLS with a client certificate; without the CA it is a clear error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = {
    ...process.env,
    DISPATCH_CONFIG: join(dir, "config.json"),
    HOME: dir,
    DISPATCH_GATEWAY_PORT: "0",
    DISPATCH_GATEWAY_TLS_PORT: "0",
    DISPATCH_EVENTS_PORT: "0",
  };
  const certs = await makeCertificates(join(dir, "certs"));
  const nats = await startNats({
    tls: { certFile: certs.server.cert, keyFile: certs.server.key, caFile: certs.ca },
  });
  t.teardown(() => nats.stop());
  const password = nats.credentials?.password ?? "";
  const args = ["up", "--data-dir", join(dir, "data"), "--port", "0", "--nats-url", nats.urlWithCredentials];

  const untrusted = await run(env, args);
  t.is(untrusted.code, 1);
  t.regex(untrusted.stderr, new RegExp(`cannot connect to NATS at ${nats.url}: `));
  t.false(untrusted.stderr.includes(password), "the password is never shown");

  // The server verifies client certificates (caFile): getting in shows the client's was sent.
  const up = await startUp(env, [
    ...args.slice(1),
    "--nats-tls-ca",
    certs.ca,
    "--nats-tls-cert",
    certs.client.cert,
    "--nats-tls-key",
    certs.client.key,
  ]);
  t.teardown(() => up.child.kill("SIGTERM"));
  t.regex(up.output(), /logging in with user "test" and the password from the URL, over TLS/);
  t.is(printedUrl(up.output(), "nats"), nats.url);
  t.false(up.output().includes(password), "the password is never shown");
  t.is((await run(env, ["create", "secret", "over-tls", "--from-literal", "k=v"])).code, 0);
  up.child.kill("SIGTERM");
  t.is(await up.exited, 0, up.output());
});

test("dispatch up: no nats-server to start is a clear error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = {
    ...process.env,
    DISPATCH_CONFIG: join(dir, "config.json"),
    HOME: dir,
    DISPATCH_GATEWAY_PORT: "0",
    DISPATCH_GATEWAY_TLS_PORT: "0",
    DISPATCH_EVENTS_PORT: "0",
  };
  const result = await run(env, [
    "up",
    "--data-dir",
    join(dir, "data"),
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
async function upInOwnGroup(t: ExecutionContext, natsArgs: string[] = []) {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-"));
  const env = {
    ...process.env,
    DISPATCH_CONFIG: join(dir, "config.json"),
    HOME: dir,
    DISPATCH_GATEWAY_PORT: "0",
    DISPATCH_GATEWAY_TLS_PORT: "0",
    DISPATCH_EVENTS_PORT: "0",
  };
  const args = ["--data-dir", join(dir, "data"), "--port", "0", ...natsArgs];
  const up = await startUp(env, args, true);
  const pid = up.child.pid ?? 0;
  t.teardown(() => {
    if (isRunning(pid)) process.kill(-pid, "SIGKILL");
    stopLeftNats(join(dir, "data"));
  });
  return { dir, env, up, pid, args };
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
  const ctx = await upInOwnGroup(t);
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
  const ctx = await upInOwnGroup(t);
  const natsPort = Number(new URL(printedUrl(ctx.up.output(), "nats")).port);
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
  // Its user and password in the URL, as --nats-url takes them.
  const ctx = await upInOwnGroup(t, ["--nats-url", nats.urlWithCredentials]);
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
  const env = {
    ...process.env,
    DISPATCH_CONFIG: join(dir, "config.json"),
    HOME: dir,
    DISPATCH_GATEWAY_PORT: "0",
    DISPATCH_GATEWAY_TLS_PORT: "0",
    DISPATCH_EVENTS_PORT: "0",
  };
  const natsPort = await stablePort();
  const args = ["up", "--data-dir", join(dir, "data"), "--port", "0", "--nats-port", String(natsPort)];
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

test("dispatch up: async runs in flight when it is killed (SIGKILL) end as interrupted SystemErrors at the next start", async (t) => {
  // The handler calls this test and waits for the answer: its run stays in flight as long as the test wants.
  const held: ServerResponse[] = [];
  let arrived!: () => void;
  const firstCall = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const server = createServer((_req, res) => {
    held.push(res);
    arrived();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const res of held) res.end();
    server.close();
  });
  const { port } = server.address() as { port: number };

  const ctx = await upInOwnGroup(t);
  await deployOne(
    t,
    ctx,
    "slow",
    `export default async () => (await fetch("http://127.0.0.1:${port}/")).text();\n`,
  );
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    const exec = await run(ctx.env, ["exec", "slow", "--async"]);
    t.is(exec.code, 0, exec.stderr);
    ids.push(JSON.parse(exec.stdout).run);
  }
  await firstCall;
  process.kill(ctx.pid, "SIGKILL");
  await ctx.up.exited;
  // The orphaned worker may finish now: nobody is left to record its answer.
  for (const res of held) res.end("too late");

  const again = await startUp(ctx.env, ctx.args);
  t.teardown(() => again.child.kill("SIGTERM"));
  t.regex(again.output(), /using the nats-server an earlier dispatch up started/);
  // Follow the runs until both have ended.
  const follow = spawn(process.execPath, [bin, "get", "runs", "slow", "--follow", "-o", "json"], {
    env: ctx.env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => follow.kill());
  const ended = new Map<string, { status: { phase: string; error?: { type: string; message: string } } }>();
  for await (const line of createInterface({ input: follow.stdout })) {
    const record = JSON.parse(line);
    if (ids.includes(record.meta?.name) && record.status?.phase !== "PHASE_INITIALIZED") {
      ended.set(record.meta.name, record);
    }
    if (ended.size === ids.length) break;
  }
  for (const id of ids) {
    const status = ended.get(id)?.status;
    t.is(status?.phase, "PHASE_ERROR", id);
    t.is(status?.error?.type, "ERROR_TYPE_SYSTEM_ERROR");
    t.regex(status?.error?.message ?? "", /^interrupted by a control-plane restart/);
  }
  again.child.kill("SIGTERM");
  t.is(await again.exited, 0, again.output());
});

test("dispatch up --gateway envoy: without Envoy it says how to get one and makes nothing; with one it waits for its first ACK, serves through it and stops it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-up-envoy-"));
  const env = { ...process.env, DISPATCH_CONFIG: join(dir, "config.json"), HOME: dir };
  const data = join(dir, "data");
  // A name no machine has, so that the test holds where Envoy is installed too.
  const absent = "envoy-not-installed-here";
  const missing = await run(env, [
    "up",
    "--data-dir",
    data,
    "--port",
    "0",
    "--gateway",
    "envoy",
    "--envoy-bin",
    absent,
  ]);
  t.is(missing.code, 1);
  t.regex(
    missing.stderr,
    new RegExp(`no "${absent}" binary on the PATH: install Envoy \\(https://www\\.envoyproxy\\.io`),
  );
  await t.throwsAsync(stat(data), undefined, "nothing was made");

  // The stand-in reads the bootstrap and serves with the embedded gateway (see its header).
  const standin = fileURLToPath(new URL("../../testdata/envoy-standin/envoy.mjs", import.meta.url));
  const port = await freePort();
  const up = await startUp({ ...env, STANDIN_PORT: String(port) }, [
    "--data-dir",
    data,
    "--port",
    "0",
    "--gateway",
    "envoy",
    "--envoy-bin",
    standin,
    "--gateway-port",
    String(port),
  ]);
  t.teardown(() => up.child.kill("SIGKILL"));
  t.is(printedUrl(up.output(), "gateway"), `http://127.0.0.1:${port}`);
  const bootstrap = JSON.parse(await readFile(join(data, "envoy", "bootstrap.json"), "utf8"));
  t.is(bootstrap.node.id, "dispatch-up-envoy");
  t.is((await stat(join(data, "envoy", "bootstrap.json"))).mode & 0o777, 0o600, "it holds the node token");

  const file = join(dir, "hi.js");
  await writeFile(file, 'export default async () => ({ hi: "through envoy" });\n');
  t.is((await run(env, ["create", "function", "hi", file, "--wait"])).code, 0);
  const created = await run(env, ["create", "endpoint", "hi", "hi", "--path", "/hi", "--wait"]);
  t.is(created.code, 0, created.stderr);
  const status = JSON.parse((await run(env, ["get", "endpoint", "hi", "-o", "json"])).stdout).status;
  t.regex(
    status.conditions.find((c: { type: string }) => c.type === "Programmed").message,
    /dispatch-up-envoy/,
  );
  const answer = await fetch(`http://127.0.0.1:${port}/hi`);
  t.deepEqual(await answer.json(), { hi: "through envoy" });

  up.child.kill("SIGINT");
  t.is(await up.exited, 0, up.output());
  t.false(await listens(port), "the data plane was stopped with dispatch up");
});
