import test from "ava";
import { UsageError } from "../errors.js";
import { type BundleShape, inferRuntime, requireHandler, runtimeOfFile } from "./runtime.js";

const file = (path: string): BundleShape => ({ path, kind: "file", files: [] });
const dir = (files: string[]): BundleShape => ({ path: "fn/", kind: "directory", files });

test("runtime: a file's extension tells it", (t) => {
  for (const name of ["hello.js", "hello.mjs", "hello.cjs", "lib/HELLO.JS"]) {
    t.is(inferRuntime(file(name), {}), "nodejs", name);
  }
  t.is(inferRuntime(file("hello.py"), {}), "python3");
  t.is(runtimeOfFile("README.md"), undefined);
});

test("runtime: one given explicitly wins over the extension", (t) => {
  t.is(inferRuntime(file("handler.txt"), { runtime: "python3" }), "python3");
  t.is(inferRuntime(dir(["a.js", "b.py"]), { runtime: "nodejs" }), "nodejs");
});

test("runtime: an unknown runtime is a usage error naming the valid ones", (t) => {
  const err = t.throws(() => inferRuntime(file("hello.js"), { runtime: "node" }), { instanceOf: UsageError });
  t.is(err?.message, 'runtime "node" is not supported (use nodejs or python3)');
});

test("runtime: an unknown extension is a usage error that says what to do", (t) => {
  const err = t.throws(() => inferRuntime(file("file.txt"), {}), { instanceOf: UsageError });
  t.is(
    err?.message,
    'cannot tell the runtime of file.txt: ".txt" is not a known extension (.js, .mjs, .cjs: nodejs; .py: python3); ' +
      "give --runtime nodejs or --runtime python3",
  );
  t.regex(t.throws(() => inferRuntime(file("Makefile"), {}))?.message ?? "", /"Makefile" has no extension/);
});

test("runtime: a directory that holds one kind of source file is that runtime; node_modules is not counted", (t) => {
  t.is(inferRuntime(dir(["hello.py", "lib/util.py", "data.json"]), {}), "python3");
  t.is(inferRuntime(dir(["index.mjs", "package.json"]), {}), "nodejs");
  t.is(inferRuntime(dir(["hello.py", "node_modules/x/index.js"]), {}), "python3");
});

test("runtime: in a directory the handler's file extension decides", (t) => {
  t.is(inferRuntime(dir(["a.js", "b.py"]), { handler: "src/a.js" }), "nodejs");
  t.is(inferRuntime(dir(["a.mjs", "b.py"]), { handler: "a.mjs:greet" }), "nodejs");
});

test("runtime: a directory with mixed or no source files needs --runtime", (t) => {
  t.is(
    t.throws(() => inferRuntime(dir(["a.js", "b.py"]), { handler: "b.handle" }), { instanceOf: UsageError })
      ?.message,
    "cannot tell the runtime of fn/: it holds nodejs (.js) and python3 (.py) files; give --runtime nodejs or --runtime python3",
  );
  t.regex(
    t.throws(() => inferRuntime(dir(["README.md"]), {}), { instanceOf: UsageError })?.message ?? "",
    /it holds no \.js, \.mjs, \.cjs or \.py files/,
  );
});

test("runtime: manifests name the spec fields instead of the flags", (t) => {
  const names = { runtime: "spec.runtime", handler: "spec.handler" };
  t.regex(t.throws(() => inferRuntime(file("x.txt"), {}, names))?.message ?? "", /give spec\.runtime nodejs/);
  t.regex(t.throws(() => requireHandler(dir(["a.py"]), "", names))?.message ?? "", /with spec\.handler/);
});

test("handler: a directory needs one, a file does not", (t) => {
  t.notThrows(() => requireHandler(file("hello.js"), undefined));
  t.notThrows(() => requireHandler(dir(["hello.py"]), "hello.handle"));
  const err = t.throws(() => requireHandler(dir(["hello.py"]), undefined), { instanceOf: UsageError });
  t.regex(err?.message ?? "", /^fn\/ is a directory: name the handler with --handler/);
});
