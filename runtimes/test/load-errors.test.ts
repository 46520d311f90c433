import { rm } from "node:fs/promises";
import test from "ava";
import { LOAD_ERROR_EXIT_CODE, parseWorkerLine, type Runtime } from "../src/index.js";
import { launch, writeBundle } from "./worker-process.js";

// CONTRACT.md "Start": a handler that does not load ends the worker with status 78 and one
// DISPATCH_LOAD_ERROR line whose message is the runtime's own.

const bundles: Record<Runtime, Record<string, string>> = {
  nodejs: {
    "ok.mjs": "export default () => 1;\nexport const notAFunction = 3;\n",
    "bad.mjs": "export default async (context, payload) => {\n  const x = 1;\n  return { x: 1 ;\n};\n",
    "bad.cjs": "module.exports = function () {\n  const x = 1;\n  return { x: 1 ;\n};\n",
    "nodefault.mjs": "export const handle = () => 1;\n",
    "noexport.cjs": "module.exports = 42;\n",
    "named.cjs": "exports.handler = () => 1;\nexports.version = 2;\n",
    "needs-package.mjs": 'import "nonexistent-pkg";\nexport default () => 1;\n',
    "throws.mjs": 'throw new Error("no config at load");\n',
    "getter.cjs": 'module.exports = { get boom() { throw new Error("a getter ran"); }, handle: () => 1 };\n',
  },
  python3: {
    "ok.py": "not_a_function = 3\n\ndef handle(context, payload):\n    return 1\n",
    "bad.py": "def handle(context, payload):\n    x = 1\n    return {x: 1\n",
    "needs_package.py": "import nonexistent_pkg\n\ndef handle(context, payload):\n    return 1\n",
    "bad_import.py": "from os import nothing_here\n\ndef handle(context, payload):\n    return 1\n",
    "throws.py": 'raise RuntimeError("no config at load")\n',
    "nohandle.py":
      "from json import dumps\n\n\ndef handler(context, payload):\n    return dumps(payload)\n\n\n" +
      "def _helper():\n    pass\n\n\ndef other(context, payload):\n    return 2\n",
    "constants.py": "VALUE = 1\n",
  },
};

const cases: {
  runtime: Runtime;
  handler: string;
  what: string;
  message: RegExp;
  env?: Record<string, string>;
}[] = [
  {
    runtime: "nodejs",
    handler: "missing.js",
    what: "a missing file",
    message: /^Error \[ERR_MODULE_NOT_FOUND\]: Cannot find module '.*\/missing\.js'$/,
  },
  {
    runtime: "nodejs",
    handler: "bad.mjs",
    what: "an ES module's syntax error",
    message: /^SyntaxError: Unexpected token ';' \(bad\.mjs:3\)$/,
  },
  {
    runtime: "nodejs",
    handler: "bad.cjs",
    what: "a CommonJS syntax error",
    message: /^SyntaxError: Unexpected token ';' \(bad\.cjs:3\)$/,
  },
  {
    runtime: "nodejs",
    handler: "nodefault.mjs",
    what: "no default export",
    message:
      /^nodefault\.mjs has no default export \(or module\.exports\) that is a function; its exports: handle; name one with --handler nodefault\.mjs:handle$/,
  },
  {
    runtime: "nodejs",
    handler: "named.cjs",
    what: "CommonJS exports.name but no module.exports function",
    message:
      /^named\.cjs has no default export \(or module\.exports\) that is a function; its exports: .*handler.*; name one with --handler named\.cjs:handler$/,
  },
  {
    runtime: "nodejs",
    handler: "noexport.cjs",
    what: "module.exports that is no function",
    message:
      /^noexport\.cjs has no default export .*; its exports: default; export a function, as the default or named with --handler noexport\.cjs:name$/,
  },
  {
    runtime: "nodejs",
    handler: "ok.mjs:nope",
    what: "a missing named export",
    message:
      /^ok\.mjs has no export "nope" that is a function; its exports: default, notAFunction; name one with --handler ok\.mjs$/,
  },
  {
    runtime: "nodejs",
    handler: "ok.mjs:notAFunction",
    what: "a named export that is no function",
    message: /^ok\.mjs has no export "notAFunction" that is a function; .*; name one with --handler ok\.mjs$/,
  },
  {
    runtime: "nodejs",
    handler: "needs-package.mjs",
    what: "an import the bundle cannot resolve",
    message: /Cannot find package 'nonexistent-pkg' imported from .*needs-package\.mjs/,
  },
  {
    runtime: "nodejs",
    handler: "throws.mjs",
    what: "an error thrown at load",
    message: /^Error: no config at load$/,
  },
  {
    runtime: "nodejs",
    handler: "getter.cjs",
    what: "a module whose exports have a throwing getter (listing them runs none)",
    message: /has no default export .*its exports: .*name one with --handler getter\.cjs:handle$/,
  },
  {
    runtime: "nodejs",
    handler: "../outside.js",
    what: "a file outside the bundle",
    message: /^handler "\.\.\/outside\.js" is outside the function directory$/,
  },
  {
    runtime: "python3",
    handler: "missing.handle",
    what: "a missing module",
    message: /^ModuleNotFoundError: No module named 'missing'$/,
  },
  {
    runtime: "python3",
    handler: "ok.nope",
    what: "a missing function",
    message:
      /^AttributeError: module 'ok' has no attribute 'nope'; its functions: handle; name one with --handler ok\.handle$/,
  },
  {
    runtime: "python3",
    handler: "nohandle",
    what: "a bare module without handle",
    message:
      /^AttributeError: module 'nohandle' has no attribute 'handle'; its functions: handler, other; name one with --handler nohandle\.handler$/,
  },
  {
    runtime: "python3",
    handler: "constants.handle",
    what: "a module without functions",
    message:
      /^AttributeError: module 'constants' has no attribute 'handle'; its functions: none; define handle\(context, payload\) in it$/,
  },
  {
    runtime: "python3",
    handler: "ok.not_a_function",
    what: "a name that is no function",
    message:
      /^ok\.not_a_function is not callable \(it is a int\); its functions: handle; name one with --handler ok\.handle$/,
  },
  {
    runtime: "python3",
    handler: "bad.handle",
    what: "a syntax error",
    message: /^SyntaxError: .* \(bad\.py, line 3\)$/,
  },
  {
    runtime: "python3",
    handler: "needs_package",
    what: "an import the bundle cannot resolve",
    message: /^ModuleNotFoundError: No module named 'nonexistent_pkg'$/,
  },
  {
    runtime: "python3",
    handler: "bad_import.handle",
    what: "an import error",
    message: /^ImportError: cannot import name 'nothing_here' from 'os'/,
  },
  {
    runtime: "python3",
    handler: "throws.handle",
    what: "an error raised at load",
    message: /^RuntimeError: no config at load$/,
  },
  { runtime: "nodejs", handler: "", what: "no DISPATCH_HANDLER", message: /^DISPATCH_HANDLER is not set/ },
  { runtime: "python3", handler: "", what: "no DISPATCH_HANDLER", message: /^DISPATCH_HANDLER is not set/ },
  {
    runtime: "nodejs",
    handler: "ok.mjs",
    what: "no DISPATCH_WORKER_TOKEN",
    message: /^DISPATCH_WORKER_TOKEN is not set/,
    env: { DISPATCH_WORKER_TOKEN: "" },
  },
  {
    runtime: "python3",
    handler: "ok.handle",
    what: "no DISPATCH_WORKER_TOKEN",
    message: /^DISPATCH_WORKER_TOKEN is not set/,
    env: { DISPATCH_WORKER_TOKEN: "" },
  },
  {
    runtime: "nodejs",
    handler: "ok.mjs",
    what: "a DISPATCH_TIMEOUT_MS that is no number",
    message: /^DISPATCH_TIMEOUT_MS must be a whole number/,
    env: { DISPATCH_TIMEOUT_MS: "soon" },
  },
  {
    runtime: "python3",
    handler: "ok.handle",
    what: "a DISPATCH_TIMEOUT_MS that is no number",
    message: /^DISPATCH_TIMEOUT_MS must be a whole number/,
    env: { DISPATCH_TIMEOUT_MS: "soon" },
  },
];

const dirs = new Map<Runtime, string>();
test.before(async () => {
  for (const runtime of ["nodejs", "python3"] as const)
    dirs.set(runtime, await writeBundle(bundles[runtime]));
});
test.after.always(async () => {
  for (const dir of dirs.values()) await rm(dir, { recursive: true, force: true });
});

for (const { runtime, handler, what, message, env } of cases) {
  test(`${runtime}: ${what} exits 78 with one DISPATCH_LOAD_ERROR line in the runtime's words`, async (t) => {
    const worker = await launch({
      runtime,
      dir: dirs.get(runtime) as string,
      handler,
      ...(env ? { env } : {}),
    });
    t.teardown(() => worker.stop());
    t.deepEqual(await worker.exited, { code: LOAD_ERROR_EXIT_CODE, signal: null });
    const reports = worker.stderr.filter((line) => line.startsWith("DISPATCH_LOAD_ERROR "));
    t.is(reports.length, 1, worker.stderr.join("\n"));
    const report = parseWorkerLine(reports[0] as string);
    if (report?.kind !== "load-error") return t.fail(`not a load error: ${reports[0]}`);
    t.regex(report.message, message);
    t.false(worker.stdout.some((line) => line.startsWith("DISPATCH_READY")));
  });
}

test("nodejs: a syntax error's report shows the line and where in it", async (t) => {
  const worker = await launch({ runtime: "nodejs", dir: dirs.get("nodejs") as string, handler: "bad.mjs" });
  await worker.exited;
  const report = parseWorkerLine(worker.stderr.find((line) => line.startsWith("DISPATCH_LOAD_ERROR")) ?? "");
  if (report?.kind !== "load-error") return t.fail();
  t.deepEqual(report.stack.slice(1, 3), ["  return { x: 1 ;", "                ^"]);
});

test("python3: a syntax error's report carries Python's traceback", async (t) => {
  const worker = await launch({
    runtime: "python3",
    dir: dirs.get("python3") as string,
    handler: "bad.handle",
  });
  await worker.exited;
  const report = parseWorkerLine(worker.stderr.find((line) => line.startsWith("DISPATCH_LOAD_ERROR")) ?? "");
  if (report?.kind !== "load-error") return t.fail();
  t.true(report.stack.some((line) => line.includes("bad.py") && line.includes("line 3")));
  t.false(report.stack.some((line) => line.includes("worker.py") || line.includes("<frozen")));
});
