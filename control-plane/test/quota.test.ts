import { Code } from "@connectrpc/connect";
import { ErrorType, Phase } from "@dispatch/proto";
import type { Driver, DriverHost, InstanceEvent, RevisionSpec } from "@dispatch/server-kit";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { openIsolation } from "../src/functions/isolation/isolation.js";
import { createLocalDriver } from "../src/functions/local-driver.js";
import { deploy, exec, functionClients, helloJs, outputOf, settled, until } from "./functions-helpers.js";
import { rejects } from "./helpers.js";

/**
 * The local driver (real worker processes), counting what it runs from what
 * it reports: an instance counts from the moment it is started (before it is
 * ready) until its process has exited, so `peak` is the most that ever ran
 * (or were starting) at once.
 */
function countingDriver() {
  const starts: string[] = [];
  let live = 0;
  let peak = 0;
  const waiting: Array<{ check: () => boolean; resolve: () => void }> = [];
  const changed = () => {
    for (const w of [...waiting]) {
      if (w.check()) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  async function* counted(revision: RevisionSpec, events: AsyncIterable<InstanceEvent>) {
    for await (const event of events) {
      if (event.type === "starting") {
        starts.push(revision.name);
        live++;
        peak = Math.max(peak, live);
      } else if (event.type === "gone" || event.type === "failed") {
        live--;
      }
      changed();
      yield event;
    }
  }
  const factory = async (host: DriverHost): Promise<Driver> => {
    // Sandboxed as dispatch up runs them (the strongest isolation the machine has).
    const inner = createLocalDriver({ ...host, isolation: await openIsolation() });
    return {
      name: inner.name,
      scale: (revision, replicas, options) => inner.scale(revision, replicas, options),
      instances: (revision, signal) => counted(revision, inner.instances(revision, signal)),
      remove: (revision, drainMs) => inner.remove(revision, drainMs),
      close: () => inner.close(),
    };
  };
  return {
    factory,
    get live() {
      return live;
    },
    get peak() {
      return peak;
    },
    starts,
    /** Resolves once `check` holds, re-checked on every start and exit. */
    until(check: () => boolean): Promise<void> {
      if (check()) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ check, resolve }));
    },
  };
}

const test = anyTest as TestFn<{
  dispatch: TestDispatch;
  api: ReturnType<typeof functionClients>;
  counter: ReturnType<typeof countingDriver>;
}>;

test.before(async (t) => {
  t.context.counter = countingDriver();
  t.context.dispatch = await startDispatch({
    controlPlane: {
      driver: t.context.counter.factory,
      functionLimits: { maxInstancesPerOrg: 3, maxScaleMin: 20, maxScaleMax: 40 },
    },
  });
  t.context.api = functionClients(t.context.dispatch);
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

test.serial("an absurd scale is refused at create, naming the limit; nothing is created", async (t) => {
  const { api } = t.context;
  const min = await rejects(deploy(api, "absurd", "absurd.js", helloJs, { scale: { min: 1000, max: 1000 } }));
  t.is(min.code, Code.InvalidArgument);
  t.regex(min.rawMessage, /spec\.scale\.min: is 1000; the limit is 20/);
  t.regex(min.rawMessage, /spec\.scale\.max: is 1000; the limit is 40/);
  const overQuota = await rejects(deploy(api, "absurd", "absurd.js", helloJs, { scale: { min: 5 } }));
  t.regex(overQuota.rawMessage, /spec\.scale\.min: is 5, more than the 3 instances an org may run/);
  t.false((await api.functions.list({})).items.some((f) => f.meta?.name === "absurd"));
  t.is(t.context.counter.starts.length, 0, "no instance started");
});

test.serial(
  "the org's quota of 3: two functions that want 5 instances run 3; a call that needs a 4th fails naming the quota; a deleted function starts nothing more",
  async (t) => {
    const { api, counter } = t.context;
    // Each instance runs a real worker process.
    const a = await deploy(api, "qa", "qa.js", helloJs, { scale: { min: 2 } });
    t.is(a.status?.phase, Phase.READY);
    await until(api, "qa", (f) => f.status?.readyInstances === 2);
    // B wants 3: it gets the one place left, and says why it has no more.
    await deploy(api, "qb", "qb.js", helloJs, { scale: { min: 3, max: 3 } });
    const b = await until(api, "qb", (f) =>
      (f.status?.reason ?? []).some((r) => r.includes("has reached its quota of 3")),
    );
    t.is(b.status?.phase, Phase.READY, "B serves with what it has");
    t.regex(
      b.status?.reason.join("\n") ?? "",
      /scale\.min is 3 but 1 instance run: org "default" has reached its quota of 3 running instances \(dispatch up --max-instances-per-org\)/,
    );
    t.is(counter.live, 3);
    t.is(counter.peak, 3);

    // C cannot start an instance at all: its first start waits for a place, and
    // a call fails at its deadline, naming the quota.
    const source = await api.sources.upload({
      format: "file",
      filename: "qc.js",
      data: new TextEncoder().encode(helloJs),
    });
    await api.functions.create({
      function: {
        meta: { name: "qc" },
        spec: { runtime: "nodejs", source: source.source, timeout: { seconds: 3n } },
      },
    });
    const c = await until(api, "qc", (f) => (f.status?.reason ?? []).some((r) => r.includes("quota of 3")));
    t.is(c.status?.phase, Phase.CREATING);
    const run = await exec(api, "qc", {});
    t.is(run.status?.error?.type, ErrorType.SYSTEM_ERROR);
    t.regex(
      run.status?.error?.message ?? "",
      /no instance could start within 3s: .*org "default" has reached its quota of 3 running instances/,
    );
    t.is(counter.peak, 3);

    // A goes: its two places go to the starts that wait, the function with
    // fewest instances first (C has none, B one).
    await api.functions.delete({ name: "qa" });
    const ready = await settled(api, "qc");
    t.is(ready.status?.phase, Phase.READY);
    await counter.until(() => counter.starts.filter((n) => n === "qb").length >= 2);
    t.true(counter.peak <= 3, `at most 3 ran at once (peak ${counter.peak})`);

    // B and C go: once their instances have exited, nothing of theirs starts
    // again, and the whole quota is free (D gets all 3).
    await api.functions.delete({ name: "qb" });
    await api.functions.delete({ name: "qc" });
    await counter.until(() => counter.live === 0);
    const startsBefore = counter.starts.length;
    await deploy(api, "qd", "qd.js", helloJs, { scale: { min: 3 } });
    await until(api, "qd", (f) => f.status?.readyInstances === 3);
    const later = counter.starts.slice(startsBefore);
    t.deepEqual(later, ["qd", "qd", "qd"], "only D started after the deletes");
    t.true(counter.peak <= 3, `at most 3 ran at once (peak ${counter.peak})`);

    // At its quota, the org can still roll out new code: the new revision's
    // first instance starts beside the old ones, which then go.
    const v2 = await api.sources.upload({
      format: "file",
      filename: "qd.js",
      data: new TextEncoder().encode('export default async () => "v2";\n'),
    });
    const current = (await api.functions.get({ name: "qd" })).function;
    if (current?.spec) current.spec.source = v2.source;
    await api.functions.update({ function: current });
    const updated = await settled(api, "qd");
    t.is(updated.status?.phase, Phase.READY);
    t.is(outputOf(await exec(api, "qd", {})), "v2");
    await until(api, "qd", (f) => f.status?.readyInstances === 3);
    t.true(counter.peak <= 4, `one above the quota at most, for the rollout (peak ${counter.peak})`);
  },
);
