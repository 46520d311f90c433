import { Code } from "@connectrpc/connect";
import { LogService, Phase, WatchEventType } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { deploy, exec, functionClients, helloJs } from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";

// RunService and LogService reads that name a function answer as exec does when
// it does not exist: NotFound, naming the function and the org, instead of an
// empty answer or (with follow) a stream that waits forever.

interface Context {
  dispatch: TestDispatch;
  api: ReturnType<typeof functionClients>;
  logs: ReturnType<typeof client<typeof LogService>>;
}
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
  t.context.api = functionClients(t.context.dispatch);
  t.context.logs = client(LogService, t.context.dispatch.url, t.context.dispatch.token);
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

/** Reads a server stream to its end (or its error). */
async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _ of stream) count++;
  return count;
}

const notFound = /^function "nobody" not found in org "default"$/;

test("RunService.Watch of a function that does not exist fails with NotFound at once", async (t) => {
  const err = await rejects(
    drain(t.context.api.runs.watch({ function: "nobody" }, { signal: AbortSignal.timeout(60_000) })),
  );
  t.is(err.code, Code.NotFound);
  t.regex(err.rawMessage, notFound);
});

test("LogService.Tail of a function that does not exist fails with NotFound, with and without follow", async (t) => {
  for (const follow of [false, true]) {
    const err = await rejects(
      drain(t.context.logs.tail({ function: "nobody", follow }, { signal: AbortSignal.timeout(60_000) })),
    );
    t.is(err.code, Code.NotFound, `follow: ${follow}`);
    t.regex(err.rawMessage, notFound);
  }
});

test("a function that exists is watched and tailed as before, in another org too", async (t) => {
  const { api, logs } = t.context;
  const fn = await deploy(api, "present", "hello.js", helloJs);
  t.is(fn.status?.phase, Phase.READY, fn.status?.reason.join("; "));
  await exec(api, "present", { name: "Jon", place: "Winterfell" });
  await t.notThrowsAsync(drain(logs.tail({ function: "present" })), "its logs are read");
  let runs = 0;
  let synced = false;
  for await (const event of api.runs.watch(
    { function: "present" },
    { signal: AbortSignal.timeout(60_000) },
  )) {
    if (event.type === WatchEventType.SYNCED) {
      synced = true;
      break;
    }
    runs++;
  }
  t.true(synced, "the watch of an existing function reaches SYNCED");
  t.is(runs, 1, "after its one run");
  const elsewhere = await rejects(
    drain(api.runs.watch({ org: "other", function: "present" }, { signal: AbortSignal.timeout(60_000) })),
  );
  t.is(elsewhere.code, Code.NotFound, "a function is looked up in the org the request names");
  t.regex(elsewhere.rawMessage, /^function "present" not found in org "other"$/);
});

test("RunService.List of a function that does not exist is empty: a deleted function's runs are gone", async (t) => {
  t.deepEqual((await t.context.api.runs.list({ function: "nobody" })).items, []);
});
