import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { ErrorType, Phase, type Run, RunSchema } from "@dispatch/proto";
import { trackNatsHealth } from "@dispatch/server-kit";
import { type NatsServer, startNats } from "@dispatch/testkit";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import anyTest, { type TestFn } from "ava";
import {
  type InFlightRunsOptions,
  interruptedMessage,
  startInFlightRuns,
} from "../src/store/in-flight-runs.js";
import { defaultRunRetention, RunStore } from "../src/store/run-store.js";

const test = anyTest as TestFn<{ nats: NatsServer; nc: NatsConnection; options: InFlightRunsOptions }>;

test.beforeEach(async (t) => {
  const nats = await startNats();
  const nc = await connect(nats.connectOptions);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const runs = await RunStore.open(js, jsm, defaultRunRetention);
  const log = () => undefined;
  t.context = {
    nats,
    nc,
    options: { kvm: new Kvm(js), jsm, replicas: 1, runs, health: trackNatsHealth(nc), log },
  };
});
test.afterEach.always(async (t) => {
  await t.context.nc?.close();
  await t.context.nats?.stop();
});

/** An async run as the invoker stores it first. */
function initialized(fn: string): Run {
  const id = randomUUID();
  return create(RunSchema, {
    meta: { name: id, org: "default", uid: id },
    spec: { function: fn, async: true },
    status: { phase: Phase.INITIALIZED },
  });
}

test("a replica's sweep leaves the runs of a live replica alone, on another machine or in this process", async (t) => {
  const { runs } = t.context.options;
  const a = await startInFlightRuns({ ...t.context.options, machine: "host-a" });
  const here = await startInFlightRuns(t.context.options);
  const run = initialized("slow");
  await a.begin(run);
  await runs.put(run);
  const local = initialized("slow");
  await here.begin(local);
  await runs.put(local);

  const b = await startInFlightRuns({ ...t.context.options, machine: "host-b" });
  t.is(await b.sweep(), 0);
  const c = await startInFlightRuns(t.context.options);
  t.is(await c.sweep(), 0);
  t.is((await runs.get("default", "slow", run.meta?.name ?? ""))?.status?.phase, Phase.INITIALIZED);
  t.is((await runs.get("default", "slow", local.meta?.name ?? ""))?.status?.phase, Phase.INITIALIZED);
  for (const replica of [a, here, b, c]) await replica.close();
});

test("the runs of a control plane that is gone end as SystemError 'interrupted'; finished ones stay as they are", async (t) => {
  const { runs, kvm } = t.context.options;
  const gone = await startInFlightRuns(t.context.options);
  const cut = initialized("slow");
  await gone.begin(cut);
  await runs.put(cut);
  // Finished, but its in-flight record was left behind (the control plane died before removing it).
  const done = initialized("slow");
  await gone.begin(done);
  await runs.put(done);
  if (done.status) done.status.phase = Phase.READY;
  await runs.put(done);
  // Gone without finishing its runs: its process-local liveness ends as a crash would end it.
  await gone.close();

  // A start sweeps at once; this waits for that sweep (or makes one).
  const next = await startInFlightRuns(t.context.options);
  await next.sweep();
  const failed = await runs.get("default", "slow", cut.meta?.name ?? "");
  t.is(failed?.status?.phase, Phase.ERROR);
  t.is(failed?.status?.error?.type, ErrorType.SYSTEM_ERROR);
  t.is(failed?.status?.error?.message, interruptedMessage);
  t.truthy(failed?.status?.finished);
  t.is((await runs.get("default", "slow", done.meta?.name ?? ""))?.status?.phase, Phase.READY);
  const left = [];
  for await (const key of await (await kvm.open("async_runs")).keys()) left.push(key);
  t.deepEqual(left, [], "nothing is left to sweep");
  t.is(await next.sweep(), 0);
  await next.close();
});
