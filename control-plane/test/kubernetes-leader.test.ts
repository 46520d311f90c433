import { randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Phase } from "@dispatch/proto";
import {
  type FakeKube,
  objectsOfFunction,
  stablePort,
  startNats,
  startRuntimeCluster,
  startTcpRelay,
  type TestDispatch,
} from "@dispatch/testkit";
import test from "ava";
import { newTokenSecret } from "../src/auth/token-registry.js";
import { deploy, exec, functionClients, helloJs, outputOf } from "./functions-helpers.js";
import { launch, type Running } from "./launch.js";

// Long enough that a leader on a loaded machine never misses its renewals by accident (the takeover waits it out).
const LEASE_SECONDS = 10;

/** The holder of the control plane's Lease, as the cluster stores it. */
function holder(kube: FakeKube): string | undefined {
  const lease = kube.get("leases", "dispatch", "dispatch-control-plane") as
    | { spec?: { holderIdentity?: string } }
    | undefined;
  return lease?.spec?.holderIdentity || undefined;
}

const writes = new Set(["create", "update", "patch", "apply", "delete", "deletecollection"]);
/** Which identities wrote to the cluster (other than the Lease), by the User-Agent each replica sends. */
function writers(kube: FakeKube, from = 0): Set<string> {
  return new Set(
    kube.requests
      .slice(from)
      .filter((r) => writes.has(r.verb) && r.resource !== "leases" && r.code < 400)
      .map((r) => r.userAgent ?? "?"),
  );
}

test("two control planes: one leads and reconciles; SIGKILLed, the other takes over and nothing is written by both", async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const kube = await startRuntimeCluster();
  t.teardown(() => kube.close());
  const dir = await mkdtemp(join(tmpdir(), "dispatch-leader-"));
  const token = newTokenSecret();
  await writeFile(join(dir, "admin.token"), token, { mode: 0o600 });
  const key = randomBytes(32).toString("hex");

  // The control plane's Service: the one address pods fetch their bundle from, whichever replica answers.
  const service = await startTcpRelay(1);
  t.teardown(() => service.close());
  const start = async (identity: string): Promise<{ running: Running; url: string; port: number }> => {
    const port = await stablePort();
    const running = launch(
      ["--listen", `127.0.0.1:${port}`, "--admin-token-file", join(dir, "admin.token")],
      {
        PATH: process.env.PATH,
        HOME: dir,
        DISPATCH_SECRET_KEY: key,
        DISPATCH_NATS_URL: nats.urlWithCredentials,
        DISPATCH_DRIVER: "kubernetes",
        KUBECONFIG: kube.kubeconfigPath,
        POD_NAME: identity,
        POD_NAMESPACE: "dispatch",
        DISPATCH_RUNTIME_IMAGE_NODEJS: "dispatch/runtime-nodejs:test",
        DISPATCH_RUNTIME_IMAGE_PYTHON3: "dispatch/runtime-python3:test",
        DISPATCH_CONTROL_PLANE_URL: service.url,
        DISPATCH_LEADER_LEASE: String(LEASE_SECONDS),
      },
    );
    t.teardown(() => {
      running.child.kill("SIGKILL");
    });
    await running.printed("serving the API on");
    return { running, url: `http://127.0.0.1:${port}`, port };
  };
  const a = await start("cp-a");
  service.retarget(a.port);
  // Until cp-a leads.
  await kube.until(() => holder(kube) === "cp-a");
  const b = await start("cp-b");

  // The leader reconciles: a function created through the standby's API runs.
  const viaB = functionClients({ url: b.url, token } as TestDispatch);
  const viaA = functionClients({ url: a.url, token } as TestDispatch);
  const fn = await deploy(viaB, "led", "led.js", helloJs);
  t.is(fn.status?.phase, Phase.READY, fn.status?.reason.join("; "));
  t.deepEqual(outputOf(await exec(viaA, "led", { name: "A" })), { myField: "Hello, A from Nowhere" });
  // The standby serves calls too, from its own pool on the same pods.
  t.deepEqual(outputOf(await exec(viaB, "led", { name: "B" })), { myField: "Hello, B from Nowhere" });
  t.deepEqual([...writers(kube)], ["dispatch-control-plane/cp-a"], "only the leader wrote to the cluster");

  // A function at zero woken by a call through the standby: the standby only raises its
  // replicas; the leader's pool, which sees the pod, stops it once idle.
  await deploy(viaA, "nap", "nap.js", helloJs, {
    scale: { min: 0, idleTimeout: { seconds: 0n, nanos: 500_000_000 } },
  });
  const napPods = () => objectsOfFunction(kube, "pods", "nap");
  // Until nap is at zero.
  await kube.until(() => napPods().length === 0);
  const beforeWake = kube.requests.length;
  t.deepEqual(outputOf(await exec(viaB, "nap", { name: "Z" })), { myField: "Hello, Z from Nowhere" });
  const standbyWrites = kube.requests
    .slice(beforeWake)
    .filter(
      (r) => r.userAgent === "dispatch-control-plane/cp-b" && writes.has(r.verb) && r.resource !== "leases",
    );
  t.true(standbyWrites.length >= 1, "the standby woke it");
  t.deepEqual(
    [...new Set(standbyWrites.map((r) => `${r.verb} ${r.resource}/${r.subresource}`))],
    ["patch deployments/scale"],
    "a standby only raises replicas",
  );
  // Until nap is back at zero, stopped by the leader.
  await kube.until(() => napPods().length === 0);
  t.is(holder(kube), "cp-a");

  // The leader dies without giving the lease up; the standby takes over once it expires.
  const before = kube.requests.length;
  const ledGeneration = () =>
    (
      kube
        .list("deployments", "dispatch")
        .find((d) => String((d.metadata as { name?: string }).name).startsWith("fn-default-led-"))
        ?.metadata as { generation?: number } | undefined
    )?.generation;
  const generationBefore = ledGeneration();
  a.running.child.kill("SIGKILL");
  await a.running.exited;
  service.retarget(b.port);
  // Until cp-b leads.
  await kube.until(() => holder(kube) === "cp-b");
  const lease = kube.get("leases", "dispatch", "dispatch-control-plane") as {
    spec: { leaseTransitions?: number; leaseDurationSeconds?: number };
  };
  t.true((lease.spec.leaseTransitions ?? 0) >= 1);
  t.is(lease.spec.leaseDurationSeconds, LEASE_SECONDS);

  // The new leader serves what ran, and reconciles what comes.
  t.deepEqual(outputOf(await exec(viaB, "led", { name: "B" })), { myField: "Hello, B from Nowhere" });
  const next = await deploy(viaB, "after", "after.js", helloJs);
  t.is(next.status?.phase, Phase.READY, next.status?.reason.join("; "));
  t.deepEqual(
    [...writers(kube, before)],
    ["dispatch-control-plane/cp-b"],
    "after the takeover only cp-b wrote",
  );
  t.is(ledGeneration(), generationBefore, "the new leader adopted led's Deployment as it was: no rollout");
});
