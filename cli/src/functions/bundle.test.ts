import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import anyTest, { type TestFn } from "ava";
import { x as extractTar, t as listTar } from "tar";
import { UsageError } from "../errors.js";
import { readBundle } from "./bundle.js";

const test = anyTest as TestFn<{ dir: string }>;

test.beforeEach(async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-bundle-"));
  t.context.dir = dir;
  await mkdir(join(dir, "fn", "lib"), { recursive: true });
  await mkdir(join(dir, "fn", ".git", "objects"), { recursive: true });
  await mkdir(join(dir, "fn", "node_modules", "left-pad"), { recursive: true });
  await writeFile(join(dir, "fn", "index.mjs"), "export default () => 1;\n");
  await writeFile(join(dir, "fn", "lib", "util.js"), "module.exports = 2;\n");
  await writeFile(join(dir, "fn", ".git", "HEAD"), "ref: refs/heads/main\n");
  await writeFile(join(dir, "fn", "node_modules", "left-pad", "index.js"), "module.exports = 3;\n");
  await writeFile(join(dir, "fn", ".env.example"), "A=1\n");
  await symlink("index.mjs", join(dir, "fn", "main.mjs"));
});

test.afterEach.always(async (t) => {
  await rm(t.context.dir, { recursive: true, force: true });
});

async function entriesOf(data: Uint8Array): Promise<string[]> {
  const names: string[] = [];
  await pipeline(
    Readable.from([Buffer.from(data)]),
    listTar({ onReadEntry: (entry) => names.push(entry.path) }),
  );
  return names;
}

test("bundle: a directory packs as tar.gz without .git and with node_modules", async (t) => {
  const bundle = await readBundle(join(t.context.dir, "fn"), "fn/");
  t.is(bundle.format, "tar.gz");
  t.is(bundle.kind, "directory");
  t.is(bundle.path, "fn/");
  t.deepEqual(bundle.files, [".env.example", "index.mjs", "lib/util.js", "node_modules/left-pad/index.js"]);
  t.deepEqual(await entriesOf(bundle.data), [
    ".env.example",
    "index.mjs",
    "lib/",
    "lib/util.js",
    "main.mjs",
    "node_modules/",
    "node_modules/left-pad/",
    "node_modules/left-pad/index.js",
  ]);

  const out = join(t.context.dir, "out");
  await mkdir(out);
  await pipeline(Readable.from([Buffer.from(bundle.data)]), extractTar({ cwd: out, strict: true }));
  const again = await readBundle(out);
  t.deepEqual(again.files, bundle.files, "unpacking gives the same files back");
});

test("bundle: the same tree packs to the same bytes, even after its files are touched", async (t) => {
  const first = await readBundle(join(t.context.dir, "fn"));
  await writeFile(join(t.context.dir, "fn", "index.mjs"), "export default () => 1;\n");
  const second = await readBundle(join(t.context.dir, "fn"));
  t.deepEqual(Buffer.from(second.data), Buffer.from(first.data));
  await writeFile(join(t.context.dir, "fn", "index.mjs"), "export default () => 2;\n");
  const changed = await readBundle(join(t.context.dir, "fn"));
  t.notDeepEqual(Buffer.from(changed.data), Buffer.from(first.data));
});

test("bundle: a file is sent as it is, with its name", async (t) => {
  const bundle = await readBundle(join(t.context.dir, "fn", "index.mjs"));
  t.is(bundle.format, "file");
  t.is(bundle.filename, "index.mjs");
  t.is(Buffer.from(bundle.data).toString(), "export default () => 1;\n");
});

test("bundle: a missing path or an empty directory is a usage error", async (t) => {
  await t.throwsAsync(readBundle(join(t.context.dir, "nope.js"), "nope.js"), {
    instanceOf: UsageError,
    message: "nope.js does not exist",
  });
  await mkdir(join(t.context.dir, "empty", ".git"), { recursive: true });
  await t.throwsAsync(readBundle(join(t.context.dir, "empty"), "empty/"), {
    instanceOf: UsageError,
    message: "empty/ is an empty directory",
  });
});
