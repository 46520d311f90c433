import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { SecretService, SystemService } from "@dispatch/proto";
import { freePort, startNats, type TestDispatch } from "@dispatch/testkit";
import test from "ava";
import { newTokenSecret } from "../src/auth/token-registry.js";
import { deploy, exec, functionClients, outputOf } from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";
import { bin, launch } from "./launch.js";

// The control plane as deploy/ runs it: a real process of its own.
/** Runs it to its end. */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

/** The environment of the test process without any DISPATCH_ or NATS_ variable, plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(DISPATCH_|NATS_URL)/.test(name)),
  );
  return { ...env, ...extra };
}

test("dispatch-control-plane: started from flags and the environment against NATS, it serves the API to its admin token, its own secrets never reach a worker, and SIGTERM stops it cleanly", async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const dir = await mkdtemp(join(tmpdir(), "dispatch-main-"));
  const tokenFile = join(dir, "admin.token");
  const token = newTokenSecret();
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const running = launch(["--listen", "127.0.0.1:0", "--admin-token-file", tokenFile], {
    ...cleanEnv({
      DISPATCH_NATS_URL: nats.urlWithCredentials,
      DISPATCH_SECRET_KEY: randomBytes(32).toString("base64"),
      DISPATCH_WORK_DIR: join(dir, "work"),
    }),
  });
  t.teardown(() => running.child.kill("SIGKILL"));
  const started = await running.printed(/serving the API on (http:\/\/\S+) /);
  const url = /serving the API on (http:\/\/\S+) /.exec(started)?.[1] ?? "";
  t.notRegex(
    started,
    new RegExp(nats.credentials?.password ?? "no password"),
    "the NATS password is never logged",
  );
  t.regex(started, /driver local/);

  const secrets = client(SecretService, url, token);
  await secrets.create({ secret: { meta: { name: "db" }, spec: { data: { password: "hunter2" } } } });
  t.deepEqual(
    (await secrets.list({})).items.map((s) => s.meta?.name),
    ["db"],
  );
  t.is((await rejects(client(SecretService, url, "not-a-token").list({}))).code, Code.Unauthenticated);
  const status = await client(SystemService, url, token).getStatus({});
  t.true(status.components.find((c) => c.name === "nats")?.healthy);
  t.is((await fetch(`${url}/readyz`)).status, 200);

  // A function runs, and sees none of the variables the control plane was started with.
  const api = functionClients({ url, token } as TestDispatch);
  const code =
    "export default async () => Object.keys(process.env).filter((name) => /NATS|SECRET|TOKEN|WORK_DIR/.test(name));\n";
  await deploy(api, "env", "env.js", code);
  const seen = outputOf(await exec(api, "env")) as string[];
  t.deepEqual(seen, [], "neither the secret key, the NATS URL, nor the admin token");

  running.child.kill("SIGTERM");
  t.is(await running.exited, 0, running.output());
  t.regex(running.output(), /SIGTERM: stopping/);
  t.regex(running.output(), /stopped\n$/);
  await t.throwsAsync(fetch(`${url}/healthz`), undefined, "nothing listens any more");
});

test("dispatch-control-plane: a bad flag or variable is refused before anything starts, saying what would work", async (t) => {
  const key = randomBytes(32).toString("hex");
  const env = cleanEnv({ DISPATCH_SECRET_KEY: key, DISPATCH_NATS_URL: "nats://127.0.0.1:1" });
  const kubernetes = await run(["--driver", "kubernetes"], {
    ...env,
    DISPATCH_CONTROL_PLANE_URL: "http://dispatch-control-plane:8080",
  });
  t.is(kubernetes.code, 2);
  t.regex(
    kubernetes.output,
    /--driver kubernetes needs DISPATCH_RUNTIME_IMAGE_NODEJS: the Node.js runtime image/,
  );
  const unknown = await run([], { ...env, DISPATCH_DRIVER: "docker" });
  t.is(unknown.code, 2);
  t.regex(unknown.output, /unknown driver "docker": use local or kubernetes/);
  const noKey = await run([], cleanEnv({}));
  t.is(noKey.code, 2);
  t.regex(noKey.output, /a secret key is required: set DISPATCH_SECRET_KEY .* openssl rand -base64 32/);
  const shortKey = await run([], cleanEnv({ DISPATCH_SECRET_KEY: "c2hvcnQ=" }));
  t.is(shortKey.code, 2);
  t.regex(shortKey.output, /must be 32 bytes/);
  const weakToken = await run([], { ...env, DISPATCH_ADMIN_TOKEN: "admin" });
  t.is(weakToken.code, 2);
  t.regex(weakToken.output, /the admin token must be at least 32 characters/);
  const unreadable = await run(["--secret-key-file", "/nonexistent/secret.key"], cleanEnv({}));
  t.is(unreadable.code, 2);
  t.regex(unreadable.output, /--secret-key-file: cannot read \/nonexistent\/secret\.key/);
  const listen = await run(["--listen", "8080"], env);
  t.is(listen.code, 2);
  t.regex(listen.output, /--listen takes HOST:PORT/);
  const typo = await run(["--nats-ulr", "nats://x"], env);
  t.is(typo.code, 2);
  t.regex(typo.output, /--nats-ulr.*\(see --help\)/);
  const help = await run(["--help"], cleanEnv({}));
  t.is(help.code, 0);
  t.regex(help.output, /DISPATCH_NATS_URL/);
});

test("dispatch-control-plane: a port in use or a NATS that is not there ends the start with exit code 1 and a plain message", async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const taken: Server = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const env = cleanEnv({ DISPATCH_SECRET_KEY: randomBytes(32).toString("base64") });
  const inUse = await run(["--listen", `127.0.0.1:${port}`, "--isolation", "process"], {
    ...env,
    DISPATCH_NATS_URL: nats.urlWithCredentials,
  });
  t.is(inUse.code, 1, inUse.output);
  t.regex(inUse.output, /cannot listen: .*EADDRINUSE.*; pick another port with --listen/);

  const nowhere = await freePort();
  const gone = await run(["--listen", "127.0.0.1:0"], {
    ...env,
    DISPATCH_NATS_URL: `nats://127.0.0.1:${nowhere}`,
  });
  t.is(gone.code, 1, gone.output);
  t.regex(gone.output, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+/);
});
