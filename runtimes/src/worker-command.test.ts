import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import test from "ava";
import { defaultHandler, runtimeForFile, workerCommand } from "./worker-command.js";

test("runtimeForFile: .js, .mjs and .cjs are nodejs, .py is python3, else none", (t) => {
  t.is(runtimeForFile("hello.js"), "nodejs");
  t.is(runtimeForFile("hello.mjs"), "nodejs");
  t.is(runtimeForFile("src/hello.cjs"), "nodejs");
  t.is(runtimeForFile("HELLO.JS"), "nodejs");
  t.is(runtimeForFile("hello.py"), "python3");
  t.is(runtimeForFile("hello.ts"), undefined);
  t.is(runtimeForFile("Makefile"), undefined);
  t.is(runtimeForFile("py"), undefined);
});

test("defaultHandler: the file itself for nodejs, module.handle for python3", (t) => {
  t.is(defaultHandler("nodejs", "hello.js"), "hello.js");
  t.is(defaultHandler("nodejs", "./src/hello.mjs"), "src/hello.mjs");
  t.is(defaultHandler("python3", "hello.py"), "hello.handle");
  t.is(defaultHandler("python3", "pkg/hello.py"), "pkg.hello.handle");
});

test("workerCommand: absolute paths to scripts that exist, whatever the working directory", (t) => {
  const node = workerCommand("nodejs");
  t.is(node.command, process.execPath);
  t.is(node.args.length, 1);
  t.true(isAbsolute(node.args[0] as string) && existsSync(node.args[0] as string));
  t.regex(node.args[0] as string, /dist\/src\/node\/worker\.js$/);

  const python = workerCommand("python3", {});
  // The interpreter python3 on PATH really runs (not a version manager's shim).
  const real = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], {
    encoding: "utf8",
  }).stdout.trim();
  t.is(python.command, real);
  t.true(isAbsolute(python.args[0] as string) && existsSync(python.args[0] as string));
  t.regex(python.args[0] as string, /python\/worker\.py$/);
});

test("workerCommand: DISPATCH_PYTHON names another interpreter", (t) => {
  t.is(
    workerCommand("python3", { DISPATCH_PYTHON: "/opt/python3.12/bin/python3" }).command,
    "/opt/python3.12/bin/python3",
  );
});
