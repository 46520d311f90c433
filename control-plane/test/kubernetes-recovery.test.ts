import { Phase } from "@dispatch/proto";
import {
  type FakeKube,
  objectsOfFunction,
  startKubeDispatch,
  startNats,
  startRuntimeCluster,
} from "@dispatch/testkit";
import test from "ava";
import { deploy, exec, functionClients, helloJs, outputOf } from "./functions-helpers.js";

type Labelled = { metadata?: { labels?: Record<string, string>; uid?: string; name?: string } };
const uidsOf = (kube: FakeKube, resource: string, fn: string) =>
  objectsOfFunction(kube, resource, fn)
    .map((o) => (o as Labelled).metadata?.uid)
    .sort();

test("a restarted control plane adopts the Deployments and pods that run, without recreating them", async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const kube = await startRuntimeCluster();
  t.teardown(() => kube.close());
  const first = await startKubeDispatch({ nats, kube });
  const api = functionClients(first);
  await deploy(api, "steady", "steady.js", helloJs);
  t.deepEqual(outputOf(await exec(api, "steady", { name: "A" })), { myField: "Hello, A from Nowhere" });
  const deployments = uidsOf(kube, "deployments", "steady");
  const generation = () =>
    (kube.list("deployments", "dispatch")[0]?.metadata as { generation?: number } | undefined)?.generation;
  const generationBefore = generation();
  const pods = uidsOf(kube, "pods", "steady");
  t.is(deployments.length, 1);

  await first.stop();
  // Pods outlive the control plane.
  t.deepEqual(uidsOf(kube, "pods", "steady"), pods);

  // What a control plane that died mid-rollout leaves: the old revision's Deployment, which no pool wants.
  const current = kube.list("deployments", "dispatch")[0] as {
    metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
    spec: Record<string, unknown>;
  };
  const leftover = `${current.metadata.name}-old`;
  await createObject(kube, "/apis/apps/v1/namespaces/dispatch/deployments", {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: leftover,
      labels: current.metadata.labels,
      annotations: { ...current.metadata.annotations, "dispatch.dev/generation": "0" },
    },
    spec: { ...current.spec, replicas: 0 },
  });

  // At the same address, as a Service gives a control plane on a cluster: the pods' bundle URL is unchanged.
  const second = await startKubeDispatch({
    nats,
    kube,
    secretKey: first.secretKey,
    token: first.token,
    controlPlane: { port: Number(new URL(first.url).port) },
  });
  t.teardown(() => second.stop());
  const again = functionClients(second);
  const run = await exec(again, "steady", { name: "B" });
  t.is(run.status?.phase, Phase.READY, run.status?.error?.message);
  t.deepEqual(outputOf(run), { myField: "Hello, B from Nowhere" });
  t.deepEqual(uidsOf(kube, "deployments", "steady"), deployments, "the same Deployment");
  t.is(generation(), generationBefore, "its spec unchanged: no rollout");
  t.deepEqual(uidsOf(kube, "pods", "steady"), pods, "the same pods: the adopted ones took the call");
  // Until the leftover is swept.
  await kube.until(() => kube.get("deployments", "dispatch", leftover) === undefined);
  t.deepEqual(uidsOf(kube, "deployments", "steady"), deployments, "what the function runs is kept");
});

/** Creates an object on the fake API server as a person with kubectl would. */
async function createObject(kube: FakeKube, path: string, body: unknown): Promise<void> {
  const { request } = await import("node:https");
  await new Promise<void>((resolve, reject) => {
    const req = request(
      `${kube.url}${path}`,
      {
        method: "POST",
        ca: kube.caPem,
        headers: { authorization: `Bearer ${kube.token}`, "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          (res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

test("dropped watches, 410 Gone and a 409 on a write: the driver recovers and loses no function", async (t) => {
  const dispatch = await startKubeDispatch();
  t.teardown(() => dispatch.stop());
  const { kube } = dispatch;
  const api = functionClients(dispatch);
  await deploy(api, "sturdy", "sturdy.js", helloJs);

  // A watch ended by the server resumes; a broken connection too.
  const opened = (resource: string) => kube.watches().filter((w) => w.resource === resource).length;
  const podWatches = opened("pods");
  t.true(podWatches >= 1);
  t.true(kube.dropWatches({ resource: "pods", how: "end" }) >= 1);
  await kube.watchOpened("pods", 2);
  t.true(kube.dropWatches({ resource: "endpointslices", how: "reset" }) >= 1);
  await kube.watchOpened("endpointslices", 2);

  // History compacted while the watches are down: resuming gets 410 Gone, and the driver lists again.
  const relists = dispatch.driver().relists();
  kube.compact();
  kube.dropWatches({ how: "end" });
  await kube.watchOpened("pods", 3);
  await kube.watchOpened("endpointslices", 3);
  t.true(dispatch.driver().relists() >= relists + 2, "both informers listed again after 410");

  // The next write conflicts once: retried.
  kube.failRequests({ verb: "patch", resource: "deployments", subresource: "scale" }, { code: 409 });
  kube.failRequests({ verb: "apply", resource: "deployments" }, { code: 500 });
  const fn = await deploy(api, "after-faults", "after.js", helloJs);
  t.is(fn.status?.phase, Phase.READY, fn.status?.reason.join("; "));
  t.deepEqual(outputOf(await exec(api, "after-faults", { name: "C" })), { myField: "Hello, C from Nowhere" });
  t.deepEqual(outputOf(await exec(api, "sturdy", { name: "D" })), { myField: "Hello, D from Nowhere" });
  const codes = kube.requests.filter((r) => r.resource === "deployments" && r.code >= 400).map((r) => r.code);
  t.true(codes.includes(409) && codes.includes(500), "the faults were answered");
});
