import test, { type ExecutionContext } from "ava";
import { invoke, serveBundle, type TestWorker } from "./worker-process.js";

// The Python worker's own ways in: module.func and bare modules, async handlers, packages in the
// bundle, and output outside calls.

function serve(
  t: ExecutionContext,
  files: Record<string, string>,
  handler: string,
  body: (worker: TestWorker) => Promise<void>,
): Promise<void> {
  return serveBundle(t, "python3", files, handler, body);
}

const hello = `def handle(context, payload):
    return {"myField": "Hello, " + payload["name"] + " from " + payload["place"]}
`;

test("python3: a bare module name means module.handle", async (t) => {
  await serve(t, { "hello.py": hello }, "hello", async (worker) => {
    t.deepEqual((await invoke(worker, { name: "Jon", place: "Winterfell" })).output, {
      myField: "Hello, Jon from Winterfell",
    });
  });
});

test("python3: a KeyError's message names it, as Python prints it: KeyError: 'name'", async (t) => {
  await serve(t, { "hello.py": hello }, "hello", async (worker) => {
    const { error } = await invoke(worker, {});
    t.is(error?.type, "FunctionError");
    t.is(error?.message, "KeyError: 'name'");
    t.is(error?.stack.at(-1), "KeyError: 'name'", "as the traceback ends");
  });
});

test("python3: a module in a package of the bundle, importing a sibling module", async (t) => {
  const files = {
    "lib/__init__.py": "",
    "lib/shout.py": "def shout(text):\n    return text.upper()\n",
    "app/__init__.py": "",
    "app/main.py": "from lib.shout import shout\n\ndef run(context, payload):\n    return shout(payload)\n",
  };
  await serve(t, files, "app.main.run", async (worker) => {
    t.is((await invoke(worker, "winter is coming")).output, "WINTER IS COMING");
  });
});

test("python3: a bundle module named like the worker's own file is the bundle's", async (t) => {
  await serve(
    t,
    { "worker.py": "def handle(context, payload):\n    return 'mine'\n" },
    "worker",
    async (worker) => {
      t.is((await invoke(worker, null)).output, "mine");
    },
  );
});

test("python3: an async handler is awaited, and its output captured", async (t) => {
  const files = {
    "hello.py": `import asyncio

async def handle(context, payload):
    await asyncio.sleep(0.01)
    print("awaited")
    return payload * 2
`,
  };
  await serve(t, files, "hello", async (worker) => {
    const answer = await invoke(worker, 21);
    t.is(answer.output, 42);
    t.deepEqual(answer.logs.stdout, ["awaited"]);
  });
});

test("python3: output outside any call goes to the worker's own stdout", async (t) => {
  const files = {
    "hello.py": "print('loading')\n\ndef handle(context, payload):\n    print('calling')\n    return 1\n",
  };
  await serve(t, files, "hello", async (worker) => {
    t.deepEqual((await invoke(worker, null)).logs.stdout, ["calling"]);
    t.is(worker.stdout[0], "loading");
    t.false(worker.stdout.includes("calling"));
  });
});

test("python3: logging to stderr is captured per call too", async (t) => {
  const files = {
    "hello.py": `import logging

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

def handle(context, payload):
    logging.getLogger("fn").warning("careful with %s", payload)
    return None
`,
  };
  await serve(t, files, "hello", async (worker) => {
    t.deepEqual((await invoke(worker, "ice")).logs.stderr, ["WARNING careful with ice"]);
  });
});

test("python3: a handler reads its bundle's files by relative path", async (t) => {
  const files = {
    "data.json": JSON.stringify({ greeting: "hello" }),
    "hello.py":
      "import json\n\ndef handle(context, payload):\n    with open('data.json') as f:\n        return json.load(f)['greeting']\n",
  };
  await serve(t, files, "hello.handle", async (worker) => {
    t.is((await invoke(worker, null)).output, "hello");
  });
});
