import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { BundleDigestError, BundleFetchError, fetchBundle } from "../src/bundle/index.js";

// The pod's side of the bundle download, against a plain HTTP server that
// serves what the test says (the control plane's route: control-plane/test/bundle-download.test.ts).

const limits = { maxBundleBytes: 64 * 1024, maxUnpackedBytes: 64 * 1024, maxBundleFiles: 10 };
const digestOf = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** A server answering every request with `body`; the requests' headers are kept. */
async function serving(t: ExecutionContext, body: Buffer, status = 200) {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? "", headers: req.headers });
    res.writeHead(status, { "content-type": "application/octet-stream" });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function place(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-fetch-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, "function");
}

test("a single-file bundle is fetched with the credential, verified, and written under its name", async (t) => {
  const code = Buffer.from('export default async () => "hi";\n');
  const server = await serving(t, code);
  const directory = await place(t);
  await fetchBundle({
    controlPlane: server.url,
    digest: digestOf(code),
    credential: "dwc1.claims.mac",
    directory,
    format: "file",
    filename: "../../hello.js",
    limits,
  });
  t.deepEqual(await readdir(directory), ["hello.js"], "a path in the name does not escape the directory");
  t.is(await readFile(join(directory, "hello.js"), "utf8"), code.toString());
  t.is(server.seen[0]?.url, `/bundles/${digestOf(code)}`);
  t.is(server.seen[0]?.headers.authorization, "Bearer dwc1.claims.mac");
});

test("bytes that do not hash to the digest are refused before anything is unpacked", async (t) => {
  const code = Buffer.from("export default async () => 1;\n");
  const server = await serving(t, Buffer.from("export default async () => 2;\n"));
  const directory = await place(t);
  const err = await t.throwsAsync(
    fetchBundle({
      controlPlane: server.url,
      digest: digestOf(code),
      credential: "c",
      directory,
      format: "file",
      filename: "f.js",
      limits,
    }),
    { instanceOf: BundleDigestError },
  );
  t.regex(err?.message ?? "", /was not unpacked/);
  t.deepEqual(await readdir(directory), []);
});

test("a download larger than the installation's largest bundle is cut off", async (t) => {
  const big = Buffer.alloc(limits.maxBundleBytes + 1, 1);
  const server = await serving(t, big);
  const err = await t.throwsAsync(
    fetchBundle({
      controlPlane: server.url,
      digest: digestOf(big),
      credential: "c",
      directory: await place(t),
      format: "file",
      filename: "f.js",
      limits,
    }),
    { instanceOf: BundleFetchError },
  );
  t.regex(err?.message ?? "", /is more than 64 KiB, the largest bundle of this installation/);
});

test("a refusal carries the control plane's reason; a directory that is not empty, or a digest that is not one, is refused first", async (t) => {
  const server = await serving(
    t,
    Buffer.from(
      JSON.stringify({ error: { type: "InputError", message: "a bundle is served only to an instance" } }),
    ),
    401,
  );
  const digest = digestOf(Buffer.from("x"));
  const base = { controlPlane: server.url, credential: "c", format: "file", filename: "f.js", limits };
  const refused = await t.throwsAsync(fetchBundle({ ...base, digest, directory: await place(t) }), {
    instanceOf: BundleFetchError,
  });
  t.is(refused?.status, 401);
  t.regex(refused?.message ?? "", /\(HTTP 401\): a bundle is served only to an instance$/);

  const full = await place(t);
  await mkdir(full, { recursive: true });
  await writeFile(join(full, "left-over"), "");
  await t.throwsAsync(fetchBundle({ ...base, digest, directory: full }), { message: /is not empty/ });
  await t.throwsAsync(fetchBundle({ ...base, digest: "md5:abc", directory: await place(t) }), {
    message: /is not "sha256:" and 64 hex digits/,
  });
  t.is(server.seen.length, 1, "only the first reached the server");
});
