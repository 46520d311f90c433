import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Phase } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { exec, functionClients, helloJs, outputOf, settled } from "./functions-helpers.js";
import { directoryUntil, gzipBomb, tarGz } from "./tar-helpers.js";

// In a file of its own: the peak memory of this process is asserted on, and
// the control plane runs in it.

const test = anyTest as TestFn<{
  dispatch: TestDispatch;
  api: ReturnType<typeof functionClients>;
  workDir: string;
  bundles: string;
}>;

test.before(async (t) => {
  t.context.workDir = await mkdtemp(join(tmpdir(), "dispatch-work-"));
  t.context.bundles = join(t.context.workDir, "bundles");
  await mkdir(t.context.bundles, { recursive: true });
  // Left by an earlier run: a bundle of a function deleted meanwhile, and a crash's temp dir.
  await mkdir(join(t.context.bundles, "0".repeat(64)), { recursive: true });
  await mkdir(join(t.context.bundles, `${"1".repeat(64)}.tmp-1-2`), { recursive: true });
  t.context.dispatch = await startDispatch({
    controlPlane: {
      workDir: t.context.workDir,
      functionLimits: { maxUnpackedBytes: 16 * 1024 * 1024, maxBundleFiles: 50 },
    },
  });
  t.context.api = functionClients(t.context.dispatch);
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
  if (t.context.workDir) await rm(t.context.workDir, { recursive: true, force: true });
});

async function createFromTarGz(
  t: { context: { api: ReturnType<typeof functionClients> } },
  name: string,
  data: Buffer,
) {
  const { source } = await t.context.api.sources.upload({ format: "tar.gz", data });
  await t.context.api.functions.create({
    function: { meta: { name }, spec: { runtime: "nodejs", handler: "hello.js", source } },
  });
  return { fn: await settled(t.context.api, name, 60_000), digest: source?.digest ?? "" };
}

test("a compressed bomb (2 MiB that unpack to 2 GiB) is stopped at the limit: ERROR with the limit named, memory bounded, nothing left on disk", async (t) => {
  const bomb = gzipBomb(2048);
  t.true(bomb.length < 3 * 1024 * 1024, "the bomb itself is small");
  const { fn, digest } = await createFromTarGz(t, "bomb", bomb);
  t.is(fn.status?.phase, Phase.ERROR);
  t.regex(
    fn.status?.reason.join("\n") ?? "",
    /the bundle unpacks to more than 16 MiB, the limit of this installation \(dispatch up --max-unpacked-mib\)/,
  );
  // A generous sanity bound, not a measurement: unpacking the whole bomb in
  // memory took 2.2 GB; streaming it takes a few chunks.
  const peakMiB = process.resourceUsage().maxRSS / 1024;
  t.true(peakMiB < 500, `peak RSS ${Math.round(peakMiB)} MiB`);
  const left = await directoryUntil(
    t.context.bundles,
    (names) => !names.some((n) => n.includes(digest.slice(7))),
  );
  t.deepEqual(
    left.filter((n) => n.includes(digest.slice(7))),
    [],
    "no temp dir or partial bundle is left",
  );
});

test("at start, unpacked bundles no function uses and temp dirs left by a crash are removed", async (t) => {
  const left = await directoryUntil(
    t.context.bundles,
    (names) => !names.includes("0".repeat(64)) && !names.some((n) => n.startsWith("1".repeat(64))),
  );
  t.false(left.includes("0".repeat(64)));
});

test("a bundle with more files than the limit is ERROR, naming the limit", async (t) => {
  const files: Record<string, string> = { "hello.js": helloJs };
  for (let i = 0; i < 60; i++) files[`f${i}.txt`] = "x";
  const { fn } = await createFromTarGz(t, "many-files", tarGz(files));
  t.is(fn.status?.phase, Phase.ERROR);
  t.regex(
    fn.status?.reason.join("\n") ?? "",
    /the bundle has more than 50 files, the limit of this installation/,
  );
});

test("an unpacked bundle is removed once no function uses it: after an update to new code, and after delete", async (t) => {
  const { api } = t.context;
  const v1 = await createFromTarGz(t, "tidy", tarGz({ "hello.js": helloJs }));
  t.is(v1.fn.status?.phase, Phase.READY);
  const dir1 = v1.digest.slice("sha256:".length);
  await directoryUntil(t.context.bundles, (names) => names.includes(dir1));

  const { source } = await api.sources.upload({
    format: "tar.gz",
    data: tarGz({ "hello.js": 'export default async () => "v2";\n' }),
  });
  const dir2 = source?.digest.slice("sha256:".length) ?? "";
  const current = (await api.functions.get({ name: "tidy" })).function;
  if (current?.spec) current.spec.source = source;
  await api.functions.update({ function: current });
  await settled(api, "tidy");
  t.is(outputOf(await exec(api, "tidy")), "v2");
  const afterUpdate = await directoryUntil(t.context.bundles, (names) => !names.includes(dir1));
  t.true(afterUpdate.includes(dir2), "the new revision's bundle is there");

  await api.functions.delete({ name: "tidy" });
  await directoryUntil(t.context.bundles, (names) => !names.includes(dir2));
  t.pass();
});
