import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Driver, RevisionSpec } from "@dispatch/server-kit";
import {
  type NatsServer,
  type Rendezvous,
  startDispatch,
  startNats,
  startRendezvous,
} from "@dispatch/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import anyTest, { type TestFn } from "ava";
import { BundleCache } from "../src/functions/bundle-cache.js";
import { createInstanceCredentials } from "../src/functions/instance-credentials.js";
import { openIsolation } from "../src/functions/isolation/isolation.js";
import { createLocalDriver } from "../src/functions/local-driver.js";
import { type PoolEvent, RevisionPool, type ScalePolicy } from "../src/functions/revision-pool.js";
import { SourceStore } from "../src/store/source-store.js";
import { callDirectly, tappedLocalDriver } from "./driver-tap.js";
import { deploy, functionClients, until } from "./functions-helpers.js";

// DESIGN §4 "Load signal": calls that reach a worker without the invoker (the
// data plane's warm path) still count. Real worker processes, started by the
// local driver from bundles in a real NATS object store; the calls go straight
// to the worker's port with the instance's credential, as the gateway's will.

const test = anyTest as TestFn<{
  nats: NatsServer;
  nc: NatsConnection;
  sources: SourceStore;
  driver: Driver;
  rv: Rendezvous;
  workDir: string;
}>;

test.before(async (t) => {
  const nats = await startNats();
  const nc = await connect(nats.connectOptions);
  const sources = new SourceStore(await new Objm(jetstream(nc)).create("sources"));
  const workDir = await mkdtemp(join(tmpdir(), "dispatch-load-"));
  const driver = createLocalDriver({
    isolation: await openIsolation(),
    bundles: new BundleCache(join(workDir, "bundles"), sources),
    credentials: createInstanceCredentials(randomBytes(32)),
  });
  t.context = { nats, nc, sources, driver, rv: await startRendezvous(), workDir };
});
test.after.always(async (t) => {
  await t.context.driver?.close();
  await t.context.nc?.close();
  await t.context.nats?.stop();
  await t.context.rv?.close();
  if (t.context.workDir) await rm(t.context.workDir, { recursive: true, force: true });
});

/** A handler that holds each call at the rendezvous it is given. */
const holding = 'export default async (c, p) => { await fetch(p.hold); return "done"; };\n';

/** A revision of a one-file Node function, its bundle stored. */
async function revisionOf(t: { context: { sources: SourceStore } }, name: string): Promise<RevisionSpec> {
  const digest = await t.context.sources.put(new TextEncoder().encode(holding));
  return {
    org: "default",
    name,
    uid: randomUUID(),
    generation: 1n,
    runtime: "nodejs",
    bundle: { digest, format: "file", filename: `${name}.js` },
    handler: `${name}.js`,
    env: {},
    timeoutMs: 60_000,
    memory: "",
    cpu: "",
  };
}

/** The driver, with every replica count it is told kept in `scales`. */
function recording(driver: Driver): { driver: Driver; scales: number[] } {
  const scales: number[] = [];
  return {
    scales,
    driver: {
      ...driver,
      scale(revision, replicas, options) {
        scales.push(replicas);
        driver.scale(revision, replicas, options);
      },
    },
  };
}

/** The pool's events, and the next one a test expects (from the moment it asks). */
function eventLog() {
  const waits: Array<{ check: (e: PoolEvent) => boolean; resolve: (e: PoolEvent) => void }> = [];
  return {
    onEvent(event: PoolEvent): void {
      for (const wait of [...waits]) {
        if (!wait.check(event)) continue;
        waits.splice(waits.indexOf(wait), 1);
        wait.resolve(event);
      }
    },
    next(check: (e: PoolEvent) => boolean): Promise<PoolEvent> {
      return new Promise((resolve) => waits.push({ check, resolve }));
    },
  };
}

test.serial(
  "a worker busy with calls that did not come through the invoker is not stopped as idle; once idle, it is",
  async (t) => {
    const { rv } = t.context;
    const events = eventLog();
    const policy: ScalePolicy = { min: 0, max: 1, concurrency: 1, idleMs: 3_600_000 };
    const pool = new RevisionPool({
      revision: await revisionOf(t, "held"),
      driver: t.context.driver,
      policy,
      onEvent: events.onEvent,
    });
    await pool.start();
    // The instance's address and credential, as the data plane has them.
    const lease = pool.tryAcquire();
    if (!lease) return t.fail("no instance");
    const { instance } = lease;
    lease.release();
    const direct = callDirectly(instance, { hold: `${rv.url}/wait/held` });
    await rv.arrived("held");
    // By the pool's own count the instance has been idle all along: with a short
    // idle time its idle check comes at once, and the worker's report keeps it.
    const busy = events.next((e) => e.type === "busy");
    pool.rescale({ ...policy, idleMs: 200 });
    t.like(await busy, { type: "busy", instance: instance.id, inFlight: 1 });
    t.is(pool.size, 1, "kept while the worker is busy");
    const again = pool.tryAcquire();
    t.is(again?.instance.id, instance.id, "and it still takes calls");
    again?.release();

    rv.release("held");
    const answer = await direct;
    t.is(answer.status, 200);
    t.is(JSON.parse(answer.body).output, "done");
    // Idle by the worker's own report now: stopped, as an idle instance is.
    await events.next((e) => e.type === "scaled" && e.instances === 0);
    t.true((await instance.exited).stopped);
    await pool.drain();
  },
);

test.serial("calls straight to one worker scale the revision up to max, and not beyond", async (t) => {
  const { rv } = t.context;
  const events = eventLog();
  const { driver, scales } = recording(t.context.driver);
  const pool = new RevisionPool({
    revision: await revisionOf(t, "fanned"),
    driver,
    policy: { min: 0, max: 3, concurrency: 1, idleMs: 3_600_000 },
    onEvent: events.onEvent,
  });
  const three = events.next((e) => e.type === "scaled" && e.instances === 3);
  await pool.start();
  const lease = pool.tryAcquire();
  if (!lease) return t.fail("no instance");
  const { instance } = lease;
  lease.release();
  // Five calls in flight on the one worker, none through the invoker: five instances' worth at concurrency 1.
  const direct = [1, 2, 3, 4, 5].map(() => callDirectly(instance, { hold: `${rv.url}/wait/fanned` }));
  await rv.arrived("fanned", 5);
  // The pool reads the workers' reports every second.
  await three;
  // Read again with the load unchanged: still max.
  await pool.refreshLoad();
  t.is(pool.replicas, 3);
  t.is(pool.size, 3);
  t.is(Math.max(...scales), 3, `asked for ${scales.join(", ")}`);
  // The new instances are real workers that take calls.
  const leases = [pool.tryAcquire(), pool.tryAcquire()];
  t.is(new Set(leases.map((l) => l?.instance.id)).size, 2);
  t.false(
    leases.some((l) => l?.instance.id === instance.id),
    "the busy one is left alone",
  );
  for (const l of leases) l?.release();

  rv.release("fanned");
  for (const answer of await Promise.all(direct)) t.is(answer.status, 200);
  await pool.drain();
});

test("through the control plane: direct calls that keep a worker busy bring the function to max instances in its status", async (t) => {
  const { rv } = t.context;
  const tap = tappedLocalDriver();
  const dispatch = await startDispatch({ controlPlane: { driver: tap.factory } });
  t.teardown(() => dispatch.stop());
  const api = functionClients(dispatch);
  await deploy(api, "warm-path", "warm-path.js", holding, { scale: { concurrency: 1, max: 2 } });
  const instance = await tap.instanceOf("warm-path");
  const direct = [1, 2, 3].map(() => callDirectly(instance, { hold: `${rv.url}/wait/warm-path` }));
  await rv.arrived("warm-path", 3);
  const scaled = await until(api, "warm-path", (f) => f.status?.readyInstances === 2);
  t.is(scaled.status?.endpoints.length, 2);
  t.true(
    tap.replicasOf("warm-path").every((n) => n <= 2),
    `asked for ${tap.replicasOf("warm-path").join(", ")}`,
  );
  rv.release("warm-path");
  for (const answer of await Promise.all(direct)) t.is(answer.status, 200);
});
