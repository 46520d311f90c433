import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { OrganizationService, TokenService } from "@dispatch/proto";
import { parseWorkerLine, workerCommand } from "@dispatch/runtimes";
import {
  BundleDigestError,
  BundleFetchError,
  BundleLimitError,
  type FetchBundleOptions,
  fetchBundle,
} from "@dispatch/runtimes/bundle";
import type { InstanceEndpoint } from "@dispatch/server-kit";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { callDirectly, tappedLocalDriver } from "./driver-tap.js";
import { exec, functionClients, outputOf, settled } from "./functions-helpers.js";
import { client } from "./helpers.js";
import { tarGz } from "./tar-helpers.js";

// GET /bundles/<digest> on the control plane's port, and the fetch a pod makes
// with it (`fetchBundle`): the credential comes from a real instance, as the
// driver reports it.

const test = anyTest as TestFn<{
  dispatch: TestDispatch;
  api: ReturnType<typeof functionClients>;
  tap: ReturnType<typeof tappedLocalDriver>;
  /** The bundle of function "fetched" in org default, its digest and a credential of its instance. */
  digest: string;
  instance: InstanceEndpoint;
  /** A credential of an instance in org "acme", whose function runs another bundle. */
  acme: InstanceEndpoint;
  acmeDigest: string;
}>;

const files = {
  "hello.js": 'export default async () => "from the bundle";\n',
  "lib/data.json": '{"answer": 42}\n',
};
const limits = { maxBundleBytes: 1024 * 1024, maxUnpackedBytes: 1024 * 1024, maxBundleFiles: 100 };

test.before(async (t) => {
  const tap = tappedLocalDriver();
  const dispatch = await startDispatch({ controlPlane: { driver: tap.factory } });
  const api = functionClients(dispatch);
  const create = async (name: string, org: string, bundle: Buffer) => {
    const { source } = await api.sources.upload({ format: "tar.gz", data: bundle, org });
    await api.functions.create({
      function: { meta: { name, org }, spec: { runtime: "nodejs", handler: "hello.js", source } },
    });
    return source?.digest ?? "";
  };
  await client(OrganizationService, dispatch.url, dispatch.token).create({
    organization: { meta: { name: "acme" } },
  });
  const digest = await create("fetched", "default", tarGz(files));
  const acmeDigest = await create(
    "other",
    "acme",
    tarGz({ "hello.js": 'export default async () => "acme";\n' }),
  );
  t.context = {
    dispatch,
    api,
    tap,
    digest,
    instance: await tap.instanceOf("fetched"),
    acme: await tap.instanceOf("other"),
    acmeDigest,
  };
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

/** A new empty place to unpack into. */
async function target(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-fetched-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, "function");
}

function options(base: string, digest: string, credential: string, directory: string): FetchBundleOptions {
  return { controlPlane: base, digest, credential, directory, format: "tar.gz", filename: "", limits };
}

/** `GET /bundles/<digest>` with an Authorization header (or none). */
function get(
  base: string,
  digest: string,
  authorization?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/bundles/${digest}`,
      { headers: authorization === undefined ? {} : { authorization } },
      (res) => {
        let body = "";
        res.setEncoding("latin1");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

test("an instance's credential fetches its bundle, which verifies against the digest and unpacks whole", async (t) => {
  const { dispatch, digest, instance } = t.context;
  const directory = await target(t);
  await fetchBundle(options(dispatch.url, digest, instance.token, directory));
  t.is(await readFile(join(directory, "hello.js"), "utf8"), files["hello.js"]);
  t.is(await readFile(join(directory, "lib/data.json"), "utf8"), files["lib/data.json"]);
  // The same instance runs that code.
  t.is(outputOf(await exec(t.context.api, "fetched")), "from the bundle");
});

test("no credential, a user token of any role, a forged one, or one for another org's bundle: refused, and nothing is unpacked", async (t) => {
  const { dispatch, digest, acme, acmeDigest } = t.context;
  const url = dispatch.url;
  const none = await get(url, digest);
  t.is(none.status, 401);
  t.regex(JSON.parse(none.body).error.message, /send the instance's credential/);
  t.is(
    (await get(url, digest, `Bearer ${dispatch.token}`)).status,
    401,
    "an admin token is no instance credential",
  );
  const { secret } = await client(TokenService, url, dispatch.token).create({
    name: "acme-dev",
    org: "acme",
  });
  t.is(
    (await get(url, acmeDigest, `Bearer ${secret}`)).status,
    401,
    "nor is a member token of the bundle's org",
  );
  const forged = `${acme.token.slice(0, -4)}AAAA`;
  t.is(
    (await get(url, acmeDigest, `Bearer ${forged}`)).status,
    401,
    "a credential whose signature does not verify",
  );
  const otherOrg = await get(url, digest, `Bearer ${acme.token}`);
  t.is(otherOrg.status, 403, "acme's instance asks for default's bundle");
  t.regex(JSON.parse(otherOrg.body).error.message, /issued for an instance of another bundle/);
  // Its own bundle it gets.
  t.is((await get(url, acmeDigest, `Bearer ${acme.token}`)).status, 200);

  const directory = await target(t);
  const err = await t.throwsAsync(fetchBundle(options(url, digest, acme.token, directory)), {
    instanceOf: BundleFetchError,
  });
  t.is(err?.status, 403);
  t.deepEqual(await readdir(directory), [], "nothing unpacked");
});

test("a body altered on the way is refused by the verifier, and nothing is unpacked", async (t) => {
  const { dispatch, digest, instance } = t.context;
  // A proxy in front of the real route that flips one byte of every answer.
  const proxy = createServer((req, res) => {
    const upstream = request(`${dispatch.url}${req.url}`, { headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on("data", (chunk: Buffer) => chunks.push(chunk));
      answer.on("end", () => {
        const body = Buffer.concat(chunks);
        body[body.length >> 1] = (body[body.length >> 1] ?? 0) ^ 0xff;
        res.writeHead(answer.statusCode ?? 502, { "content-type": "application/octet-stream" });
        res.end(body);
      });
    });
    upstream.end();
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
  const base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const directory = await target(t);
  const err = await t.throwsAsync(fetchBundle(options(base, digest, instance.token, directory)), {
    instanceOf: BundleDigestError,
  });
  t.regex(err?.message ?? "", new RegExp(`the bundle received for ${digest} hashes to sha256:[0-9a-f]{64}`));
  t.deepEqual(await readdir(directory), []);
});

test("the fetch unpacks with the installation's caps: past one it stops, naming it, and leaves nothing", async (t) => {
  const { dispatch, digest, instance } = t.context;
  const directory = await target(t);
  const err = await t.throwsAsync(
    fetchBundle({
      ...options(dispatch.url, digest, instance.token, directory),
      limits: { ...limits, maxBundleFiles: 1 },
    }),
    { instanceOf: BundleLimitError },
  );
  t.regex(err?.message ?? "", /the bundle has more than 1 files, the limit of this installation/);
  t.deepEqual(await readdir(directory), []);
});

test("a bad digest is refused with what a digest looks like; a deleted function's credentials fetch nothing", async (t) => {
  const { dispatch, api, tap } = t.context;
  const bad = await get(dispatch.url, "sha256:nothex", `Bearer ${t.context.instance.token}`);
  t.is(bad.status, 400);
  t.regex(JSON.parse(bad.body).error.message, /use \/bundles\/sha256:<64 hex digits>/);

  const { source } = await api.sources.upload({
    format: "tar.gz",
    data: tarGz({ "hello.js": files["hello.js"] }),
  });
  await api.functions.create({
    function: { meta: { name: "short-lived" }, spec: { runtime: "nodejs", handler: "hello.js", source } },
  });
  await settled(api, "short-lived");
  const { id, token } = await tap.instanceOf("short-lived");
  const digest = source?.digest ?? "";
  t.is((await get(dispatch.url, digest, `Bearer ${token}`)).status, 200);
  await api.functions.delete({ name: "short-lived" });
  // Its instance is stopped once the control plane has taken the delete in.
  await tap.instanceGone(id);
  const gone = await get(dispatch.url, digest, `Bearer ${token}`);
  t.is(gone.status, 403);
  t.regex(JSON.parse(gone.body).error.message, /no longer exists/);
});

/** Runs a command to its end; its exit code and what it wrote to stderr. */
function run(command: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

test("a pod's start: dispatch-fetch-bundle fetches and verifies the bundle, then a worker serves it with the same credential", async (t) => {
  const { dispatch, digest, instance } = t.context;
  const directory = await target(t);
  const fetcher = fileURLToPath(
    import.meta.resolve("@dispatch/runtimes/bundle").replace(/index\.js$/, "fetch-bundle-main.js"),
  );
  const env = {
    DISPATCH_CONTROL_PLANE: dispatch.url,
    DISPATCH_BUNDLE_DIGEST: digest,
    DISPATCH_BUNDLE_FORMAT: "tar.gz",
    DISPATCH_FUNCTION_DIR: directory,
  };
  const refused = await run(process.execPath, [fetcher], {
    ...env,
    DISPATCH_WORKER_TOKEN: t.context.acme.token,
  });
  t.is(refused.code, 1);
  t.regex(
    refused.stderr,
    /dispatch-fetch-bundle: .*\(HTTP 403\): this credential was issued for an instance of another bundle/,
  );
  const fetched = await run(process.execPath, [fetcher], { ...env, DISPATCH_WORKER_TOKEN: instance.token });
  t.is(fetched.code, 0, fetched.stderr);

  // The worker of the "pod": the runtime's own command, on the fetched bundle.
  const { command, args } = workerCommand("nodejs");
  const worker = spawn(command, args, {
    env: {
      PATH: process.env.PATH ?? "",
      DISPATCH_PORT: "0",
      DISPATCH_FUNCTION_DIR: directory,
      DISPATCH_HANDLER: "hello.js",
      DISPATCH_WORKER_TOKEN: instance.token,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => {
    worker.kill("SIGKILL");
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    worker.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      for (const line of out.split("\n")) {
        const ready = parseWorkerLine(line);
        if (ready?.kind === "ready") resolve(ready.port);
      }
    });
    worker.once("exit", (code) => reject(new Error(`the worker exited (${code}) before it was ready`)));
  });
  const answer = await callDirectly({ ...instance, url: `http://127.0.0.1:${port}` }, null);
  t.is(answer.status, 200);
  t.is(JSON.parse(answer.body).output, "from the bundle");
});
