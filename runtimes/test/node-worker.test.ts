import { mkdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { invoke, serveBundle, startWorker, type TestWorker, writeBundle } from "./worker-process.js";

// The Node worker's own ways in: ES modules and CommonJS, default and named exports, the
// bundle's node_modules, and errors thrown where no promise awaits them.

const greeting = "'Hello, ' + payload.name + ' from ' + payload.place";
const jon = { name: "Jon", place: "Winterfell" };

function serve(
  t: ExecutionContext,
  files: Record<string, string>,
  handler: string,
  body: (worker: TestWorker) => Promise<void>,
): Promise<void> {
  return serveBundle(t, "nodejs", files, handler, body);
}

test("nodejs: an ES module's default export, in a package of type module", async (t) => {
  const files = {
    "package.json": JSON.stringify({ type: "module" }),
    "hello.js": `export default async (context, payload) => ({ myField: ${greeting} });\n`,
  };
  await serve(t, files, "hello.js", async (worker) => {
    t.deepEqual((await invoke(worker, jon)).output, { myField: "Hello, Jon from Winterfell" });
  });
});

test("nodejs: a CommonJS module.exports function is the handler", async (t) => {
  const files = {
    "hello.js": `module.exports = function (context, payload) {\n  return { myField: ${greeting}, cjs: typeof require };\n};\n`,
  };
  await serve(t, files, "hello.js", async (worker) => {
    t.deepEqual((await invoke(worker, jon)).output, {
      myField: "Hello, Jon from Winterfell",
      cjs: "function",
    });
  });
});

test("nodejs: CommonJS compiled from ESM (exports.default with __esModule) is the handler", async (t) => {
  const files = {
    "hello.cjs": `"use strict";\nObject.defineProperty(exports, "__esModule", { value: true });\nexports.default = (context, payload) => ${greeting};\n`,
  };
  await serve(t, files, "hello.cjs", async (worker) => {
    t.is((await invoke(worker, jon)).output, "Hello, Jon from Winterfell");
  });
});

test("nodejs: file.js:name picks a named export, in ES modules and CommonJS", async (t) => {
  const files = {
    "esm.mjs":
      "export default () => 'default';\nexport const greet = (context, payload) => 'hi ' + payload;\n",
    "cjs.cjs": "exports.greet = (context, payload) => 'hi ' + payload;\n",
    // Node's static analysis of CommonJS cannot see this export; the worker still finds it.
    "dynamic.cjs":
      "Object.assign(module.exports, { ['gr' + 'eet']: (context, payload) => 'hi ' + payload });\n",
  };
  for (const handler of ["esm.mjs:greet", "cjs.cjs:greet", "dynamic.cjs:greet"]) {
    await serve(t, files, handler, async (worker) => {
      t.is((await invoke(worker, "Jon")).output, "hi Jon", handler);
    });
  }
});

test("nodejs: the bundle's own node_modules resolves, for ESM and CommonJS handlers", async (t) => {
  const files = {
    "node_modules/some-pkg/package.json": JSON.stringify({
      name: "some-pkg",
      version: "1.0.0",
      main: "index.js",
    }),
    "node_modules/some-pkg/index.js": "module.exports = (text) => text.toUpperCase();\n",
    "node_modules/esm-pkg/package.json": JSON.stringify({
      name: "esm-pkg",
      type: "module",
      exports: "./main.js",
    }),
    "node_modules/esm-pkg/main.js": "export const exclaim = (text) => text + '!';\n",
    "src/handler.mjs":
      "import shout from 'some-pkg';\nimport { exclaim } from 'esm-pkg';\nexport default (context, payload) => exclaim(shout(payload));\n",
    "src/handler.cjs":
      "const shout = require('some-pkg');\nmodule.exports = (context, payload) => shout(payload);\n",
  };
  await serve(t, files, "src/handler.mjs", async (worker) => {
    t.is((await invoke(worker, "winter is coming")).output, "WINTER IS COMING!");
  });
  await serve(t, files, "src/handler.cjs", async (worker) => {
    t.is((await invoke(worker, "north")).output, "NORTH");
  });
});

test("nodejs: a bundle reached through a symlink resolves from its real location", async (t) => {
  const real = await writeBundle({
    "node_modules/some-pkg/index.js": "module.exports = (text) => text.toUpperCase();\n",
    "handler.mjs": "import shout from 'some-pkg';\nexport default (context, payload) => shout(payload);\n",
  });
  const linked = await writeBundle({});
  await mkdir(join(linked, "current"));
  await symlink(join(real, "handler.mjs"), join(linked, "current", "handler.mjs"));
  const worker = await startWorker({
    runtime: "nodejs",
    dir: join(linked, "current"),
    handler: "handler.mjs",
  });
  t.teardown(async () => {
    await worker.stop();
    await rm(real, { recursive: true, force: true });
    await rm(linked, { recursive: true, force: true });
  });
  t.is((await invoke(worker, "ok")).output, "OK");
});

test("nodejs: output outside any call goes to the worker's own stdout", async (t) => {
  const files = {
    "hello.mjs": "console.log('loading');\nexport default () => { console.log('calling'); return 1; };\n",
  };
  await serve(t, files, "hello.mjs", async (worker) => {
    t.deepEqual((await invoke(worker, null)).logs.stdout, ["calling"]);
    t.is(worker.stdout[0], "loading");
    t.false(worker.stdout.includes("calling"));
  });
});

test("nodejs: an error thrown in a timer fails only the call it belongs to", async (t) => {
  const files = {
    "hello.mjs": `export default (context, payload) => new Promise((resolve) => {
  if (payload === "boom") setTimeout(() => { throw new TypeError("late boom"); }, 10);
  else setTimeout(() => resolve("fine"), 100);
});
`,
  };
  await serve(t, files, "hello.mjs", async (worker) => {
    const [boom, fine] = await Promise.all([invoke(worker, "boom"), invoke(worker, "calm")]);
    t.is(boom.error?.type, "FunctionError");
    t.is(boom.error?.message, "TypeError: late boom");
    t.is(fine.output, "fine");
    t.is((await invoke(worker, "calm")).output, "fine", "the worker keeps serving");
  });
});

test("nodejs: a thrown value that is no error is a FunctionError with its text", async (t) => {
  const files = {
    "hello.mjs": `export default (context, payload) => {
  throw payload === "text" ? "boom" : { code: 1 };
};
`,
  };
  await serve(t, files, "hello.mjs", async (worker) => {
    t.deepEqual((await invoke(worker, "text")).error, { type: "FunctionError", message: "boom", stack: [] });
    t.deepEqual((await invoke(worker, "object")).error, {
      type: "FunctionError",
      message: "{ code: 1 }",
      stack: [],
    });
  });
});

test("nodejs: an error's name, when it sets one, is the class its message leads with", async (t) => {
  const files = {
    "hello.mjs": `class Refused extends Error {
  name = "PaymentRefused";
}
export default () => {
  throw new Refused("card expired");
};
`,
  };
  await serve(t, files, "hello.mjs", async (worker) => {
    t.is((await invoke(worker, null)).error?.message, "PaymentRefused: card expired");
  });
});

test("nodejs: a handler reads its bundle's files by relative path", async (t) => {
  const files = {
    "data.json": JSON.stringify({ greeting: "hello" }),
    "hello.mjs":
      "import { readFileSync } from 'node:fs';\nexport default () => JSON.parse(readFileSync('data.json', 'utf8')).greeting;\n",
  };
  await serve(t, files, "hello.mjs", async (worker) => {
    t.is((await invoke(worker, null)).output, "hello");
  });
});
