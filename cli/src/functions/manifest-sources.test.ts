import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { type FunctionSpec, FunctionSpecSchema } from "@dispatch/proto";
import anyTest, { type TestFn } from "ava";
import { kindByWord } from "../kinds/index.js";
import { ManifestError, parseManifest } from "../manifest.js";
import { readManifestSources, resolveSourcePath } from "./manifest-sources.js";

const test = anyTest as TestFn<{ dir: string }>;

test.beforeEach(async (t) => {
  t.context.dir = await mkdtemp(join(tmpdir(), "dispatch-sources-"));
});

test.afterEach.always(async (t) => {
  await rm(t.context.dir, { recursive: true, force: true });
});

test("sourcePath: relative to the manifest's directory, or to --work-dir, or to the working directory for stdin", (t) => {
  t.is(resolveSourcePath("hello.js", { manifest: "deploy/seed.yaml", cwd: "/src" }), "/src/deploy/hello.js");
  t.is(resolveSourcePath("../fn", { manifest: "/etc/d/seed.yaml", cwd: "/src" }), "/etc/fn");
  t.is(
    resolveSourcePath("hello.js", { manifest: "deploy/seed.yaml", workDir: "code", cwd: "/src" }),
    "/src/code/hello.js",
  );
  t.is(resolveSourcePath("hello.js", { manifest: "-", cwd: "/src" }), "/src/hello.js");
  t.is(resolveSourcePath("/abs/hello.py", { manifest: "deploy/seed.yaml", cwd: "/src" }), "/abs/hello.py");
});

test("manifest: a Function may give spec.sourcePath instead of spec.source", (t) => {
  const [doc] = parseManifest(
    "kind: Function\nname: hello\nspec:\n  sourcePath: hello.js\n  timeout: 5s\n",
    "m.yaml",
  );
  t.is(doc?.sourcePath, "hello.js");
  t.like((doc?.spec as FunctionSpec | undefined)?.timeout, { seconds: 5n });
});

test("manifest: sourcePath with source, or not a string, is a problem; other kinds have no sourcePath", (t) => {
  const problems = (text: string) => {
    try {
      parseManifest(text, "m.yaml");
    } catch (err) {
      if (err instanceof ManifestError) return err.problems;
      throw err;
    }
    return [];
  };
  t.deepEqual(
    problems("kind: Function\nname: a\nspec:\n  sourcePath: a.js\n  source: {digest: sha256:00}\n"),
    ['document 1, line 5: Function "a": set spec.source or spec.sourcePath, not both'],
  );
  t.deepEqual(problems("kind: Function\nname: a\nspec:\n  sourcePath: 3\n"), [
    'document 1, line 4: Function "a": spec.sourcePath must be the path of a file or directory',
  ]);
  t.deepEqual(problems("kind: Secret\nname: s\nspec:\n  sourcePath: a.js\n"), [
    'document 1, line 4: Secret "s": unknown field "spec.sourcePath"',
  ]);
});

test("manifest sources: read and checked relative to the manifest; every problem is listed with its document", async (t) => {
  const { dir } = t.context;
  await mkdir(join(dir, "py"));
  await writeFile(join(dir, "py", "hello.py"), "def handle(context, payload):\n    return 1\n");
  await writeFile(join(dir, "hello.js"), "export default () => 1;\n");
  const manifest = join(dir, "seed.yaml");
  const ok = parseManifest(
    "kind: Function\nname: js\nspec: {sourcePath: hello.js}\n---\n" +
      "kind: Function\nname: py\nspec: {sourcePath: py, handler: hello.handle}\n---\n" +
      "kind: Function\nname: plain\nspec: {runtime: nodejs}\n",
    manifest,
  );
  const sources = await readManifestSources(ok, manifest, { manifest, cwd: "/" });
  t.deepEqual(
    sources.map((s) => [s.doc.name, s.runtime, s.bundle.format, s.bundle.path]),
    [
      ["js", "nodejs", "file", "hello.js"],
      ["py", "python3", "tar.gz", "py"],
    ],
  );

  const bad = parseManifest(
    "kind: Function\nname: nohandler\nspec: {sourcePath: py}\n---\n" +
      "kind: Function\nname: missing\nspec: {sourcePath: gone.js}\n",
    manifest,
  );
  const err = await t.throwsAsync(readManifestSources(bad, "seed.yaml", { manifest, cwd: "/" }), {
    instanceOf: ManifestError,
  });
  t.deepEqual(err?.problems, [
    'document 1, line 1: Function "nohandler": spec.sourcePath: py is a directory: name the handler with spec.handler ' +
      "(nodejs: the file, e.g. hello.js; python3: module.function, e.g. hello.handle)",
    'document 2, line 5: Function "missing": spec.sourcePath: gone.js does not exist',
  ]);
});

test("apply: an empty handler matches the one the server chose for the same source", (t) => {
  const kind = kindByWord("function");
  const source = { digest: "sha256:ab", size: 10n, format: "file", filename: "hello.js" };
  const desired = create(FunctionSpecSchema, { runtime: "nodejs", source });
  const live = create(FunctionSpecSchema, { runtime: "nodejs", source, handler: "hello.js" });
  const completed = (spec: FunctionSpec) => (kind.withServerDefaults?.(spec, live) ?? spec) as FunctionSpec;
  t.is(completed(desired).handler, "hello.js");
  const moved = create(FunctionSpecSchema, { runtime: "nodejs", source: { ...source, digest: "sha256:cd" } });
  t.is(completed(moved).handler, "", "new code: the server decides again");
  const explicit = create(FunctionSpecSchema, { runtime: "nodejs", source, handler: "other.js" });
  t.is(completed(explicit).handler, "other.js");
});
