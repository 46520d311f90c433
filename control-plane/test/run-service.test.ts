import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { type Run, RunService, Trigger } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { deploy, functionClients, helloJs } from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";

// RunService rules that hold whoever calls: the server says what triggered a
// run, and List pages through every run.

interface Context {
  dispatch: TestDispatch;
  api: ReturnType<typeof functionClients>;
}
const test = anyTest as TestFn<Context>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch({ controlPlane: { pageSize: { default: 2, max: 3 } } });
  t.context.api = functionClients(t.context.dispatch);
  await deploy(t.context.api, "paged", "hello.js", helloJs);
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

test("a run's trigger is the server's: a client that claims HTTP or EVENT records an EXEC run", async (t) => {
  const { runs } = t.context.api;
  for (const trigger of [Trigger.HTTP, Trigger.EVENT]) {
    const { run } = await runs.create({
      run: { spec: { function: "paged", input: { kind: { case: "nullValue", value: 0 } }, trigger } },
    });
    t.is(run?.spec?.trigger, Trigger.EXEC, `answer to a ${Trigger[trigger]} claim`);
    const stored = await runs.get({ function: "paged", name: run?.meta?.name ?? "" });
    t.is(stored.run?.spec?.trigger, Trigger.EXEC, `record of a ${Trigger[trigger]} claim`);
  }
});

test("List of runs pages oldest first through every run; the page size is bounded", async (t) => {
  const { runs } = t.context.api;
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) {
    const { run } = await runs.create({ run: { spec: { function: "paged" } } });
    ids.push(run?.meta?.name ?? "");
  }
  const big = await runs.list({ function: "paged", options: { pageSize: 1000 } });
  t.is(big.items.length, 3, "a page never holds more than the server's maximum");
  const seen: Run[] = [];
  let pageToken = "";
  do {
    const page = await runs.list({ function: "paged", options: { pageSize: 3, pageToken } });
    seen.push(...page.items);
    pageToken = page.nextPageToken;
  } while (pageToken);
  const seenIds = seen.map((r) => r.meta?.name ?? "");
  t.is(new Set(seenIds).size, seenIds.length, "no run twice");
  for (const id of ids) t.true(seenIds.includes(id), `run ${id} is listed`);
  const started = seen.map((r) => (r.status?.started ? timestampMs(r.status.started) : 0));
  t.deepEqual(
    started,
    [...started].sort((a, b) => a - b),
    "oldest first",
  );

  const bad = await rejects(
    client(RunService, t.context.dispatch.url, t.context.dispatch.token).list({
      options: { pageToken: "not-a-token" },
    }),
  );
  t.is(bad.code, Code.InvalidArgument);
});
