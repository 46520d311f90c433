import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import test from "ava";
import { type FakeKube, startFakeKube } from "../src/index.js";
import { clients, deployment, type WatchEvent, waitForEvent, waitUntilGone } from "./fake-kube-helpers.js";

const pods = "/api/v1/namespaces/default/pods";
const slices = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices";
const deployments = "/apis/apps/v1/namespaces/default/deployments";

// biome-ignore lint/suspicious/noExplicitAny: watch objects are untyped JSON
type Json = any;

async function service(kube: FakeKube, name: string) {
  await clients(kube).core.createNamespacedService({
    namespace: "default",
    body: {
      metadata: { name },
      spec: { selector: { app: name }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
    },
  });
}

/** Waits until the service's slices, together, list `count` endpoints matching `ready`; returns them. */
function endpointsOf(
  kube: FakeKube,
  name: string,
  want: (endpoints: Json[]) => boolean,
): Promise<{ endpoint: Json; port: number }[]> {
  const current = new Map<string, Json>();
  return waitForEvent(
    kube,
    slices,
    (event: WatchEvent) => {
      if (event.type === "DELETED") current.delete(event.object.metadata.name);
      else if (event.type !== "BOOKMARK") current.set(event.object.metadata.name, event.object);
      const all = [...current.values()].flatMap((s) =>
        (s.endpoints ?? []).map((endpoint: Json) => ({ endpoint, port: s.ports?.[0]?.port })),
      );
      return want(all.map((e) => e.endpoint)) ? all : undefined;
    },
    { labelSelector: `kubernetes.io/service-name=${name}` },
  );
}

/** The first pod (in the current state, then in later changes) for which `pick` holds. */
function podEvent(kube: FakeKube, pick: (pod: Json) => boolean, labelSelector?: string): Promise<Json> {
  return waitForEvent(
    kube,
    pods,
    (e) => (e.type !== "BOOKMARK" && e.type !== "DELETED" && pick(e.object) ? e.object : undefined),
    labelSelector ? { labelSelector } : {},
  );
}

const isReady = (pod: Json) =>
  pod.status?.conditions?.some((c: Json) => c.type === "Ready" && c.status === "True");

test("fake kube cluster: a Deployment's replicas become ready pods, its status and a Service's EndpointSlice follow, scale to zero empties them", async (t) => {
  const kube = await startFakeKube({ cluster: true });
  t.teardown(() => kube.close());
  const { apps, core } = clients(kube);
  await service(kube, "web");
  await apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 2) });

  const ready = await endpointsOf(
    kube,
    "web",
    (eps) => eps.length === 2 && eps.every((e) => e.conditions.ready),
  );
  t.deepEqual(
    ready.map((e) => e.port),
    [8080, 8080],
    "the named target port resolves to the container port",
  );
  const status = await waitForEvent(kube, deployments, (e) =>
    e.object.status?.readyReplicas === 2 ? e.object.status : undefined,
  );
  t.like(status, {
    replicas: 2,
    updatedReplicas: 2,
    readyReplicas: 2,
    availableReplicas: 2,
    observedGeneration: 1,
  });
  t.true(status.conditions.some((c: Json) => c.type === "Available" && c.status === "True"));

  const list = await core.listNamespacedPod({ namespace: "default", labelSelector: "app=web" });
  t.is(list.items.length, 2);
  const rs = await apps.listNamespacedReplicaSet({ namespace: "default" });
  t.is(rs.items.length, 1);
  const hash = rs.items[0]?.metadata?.labels?.["pod-template-hash"] ?? "";
  t.is(rs.items[0]?.metadata?.name, `web-${hash}`);
  t.is(rs.items[0]?.metadata?.ownerReferences?.[0]?.kind, "Deployment");
  for (const pod of list.items) {
    t.regex(pod.metadata?.name ?? "", new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
    t.is(pod.metadata?.ownerReferences?.[0]?.name, `web-${hash}`);
    t.is(pod.spec?.nodeName, kube.cluster?.nodeName);
    t.is(pod.status?.phase, "Running");
    t.truthy(pod.status?.podIP);
    t.deepEqual(
      ready.map((e) => e.endpoint.targetRef.name).sort(),
      list.items.map((p) => p.metadata?.name).sort(),
    );
  }

  await apps.patchNamespacedDeploymentScale(
    { namespace: "default", name: "web", body: { spec: { replicas: 0 } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  await endpointsOf(kube, "web", (eps) => eps.length === 0);
  const zero = await waitForEvent(kube, deployments, (e) =>
    e.object.status?.replicas === undefined && e.object.status?.observedGeneration === 2
      ? e.object.status
      : undefined,
  );
  t.is(zero.readyReplicas, undefined);
  t.deepEqual((await core.listNamespacedPod({ namespace: "default" })).items, []);
  t.deepEqual(kube.cluster?.errors, []);
});

test("fake kube cluster: real processes as pods, reachable at their EndpointSlice address, stopped before a deleted pod goes", async (t) => {
  const { createServer } = await import("node:http");
  const stopped: string[] = [];
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holdStops = false;
  const kube = await startFakeKube({
    cluster: {
      async podRunner(pod) {
        const name =
          pod.metadata && typeof pod.metadata === "object" && !Array.isArray(pod.metadata)
            ? String(pod.metadata.name)
            : "";
        const server = createServer((_req, res) => res.end(`hello from ${name}`));
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const { port } = server.address() as { port: number };
        return {
          ip: "127.0.0.1",
          port,
          async stop() {
            if (holdStops) await held;
            stopped.push(name);
            await new Promise<void>((resolve) => server.close(() => resolve()));
            server.closeAllConnections();
          },
        };
      },
    },
  });
  t.teardown(() => kube.close());
  const { apps, core } = clients(kube);
  await service(kube, "web");
  await apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 2) });
  const ready = await endpointsOf(
    kube,
    "web",
    (eps) => eps.length === 2 && eps.every((e) => e.conditions.ready),
  );
  t.not(ready[0]?.port, ready[1]?.port, "each process has a port of its own, so each pod a slice of its own");
  for (const { endpoint, port } of ready) {
    const res = await fetch(`http://${endpoint.addresses[0]}:${port}/`);
    t.is(await res.text(), `hello from ${endpoint.targetRef.name}`);
  }

  // Deleting a pod: its endpoint turns terminating and not ready while its process stops.
  holdStops = true;
  const victim = ready[0]?.endpoint.targetRef.name as string;
  await core.deleteNamespacedPod({ namespace: "default", name: victim });
  const terminating = await endpointsOf(kube, "web", (eps) =>
    eps.some((e) => e.targetRef.name === victim && e.conditions.terminating && !e.conditions.ready),
  );
  t.true(terminating.some((e) => e.endpoint.targetRef.name === victim));
  t.deepEqual(stopped, [], "the process is still stopping");
  t.truthy(kube.get("pods", "default", victim)?.metadata, "the pod stays until its process has stopped");
  release();
  await waitUntilGone(kube, pods, victim);
  t.deepEqual(stopped, [victim]);
  // The ReplicaSet replaced it.
  await endpointsOf(
    kube,
    "web",
    (eps) => eps.length === 2 && eps.every((e) => e.conditions.ready && e.targetRef.name !== victim),
  );

  // Deleting the Deployment collects its ReplicaSet and pods, and stops every process.
  await apps.deleteNamespacedDeployment({ namespace: "default", name: "web" });
  await endpointsOf(kube, "web", (eps) => eps.length === 0);
  t.is(stopped.length, 3);
  t.deepEqual((await apps.listNamespacedReplicaSet({ namespace: "default" })).items, []);
  t.deepEqual(kube.cluster?.errors, []);
});

test("fake kube cluster: pods wait for markReady, or for their readiness probe to pass", async (t) => {
  const { createServer } = await import("node:http");
  let healthy = false;
  const server = createServer((req, res) => {
    res.statusCode = req.url === "/ready" && healthy ? 200 : 503;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const kube = await startFakeKube({
    cluster: { autoReady: false, probeReadiness: true, probeIntervalMs: 20, podRunner: () => ({ port }) },
  });
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  await service(kube, "manual");
  await apps.createNamespacedDeployment({ namespace: "default", body: deployment("manual", 1) });
  const running = await podEvent(kube, (pod) => pod.status?.phase === "Running", "app=manual");
  t.false(isReady(running));
  const notReady = await endpointsOf(kube, "manual", (eps) => eps.length === 1);
  t.false(notReady[0]?.endpoint.conditions.ready);
  await kube.cluster?.markReady("default", running.metadata.name);
  await endpointsOf(kube, "manual", (eps) => eps.length === 1 && eps[0].conditions.ready);
  await kube.cluster?.markUnready("default", running.metadata.name);
  await endpointsOf(kube, "manual", (eps) => eps.length === 1 && !eps[0].conditions.ready);

  const probed = deployment("probed", 1);
  (probed.spec.template.spec.containers[0] as Json).readinessProbe = {
    httpGet: { path: "/ready", port: "http" },
  };
  await apps.createNamespacedDeployment({ namespace: "default", body: probed });
  const probing = await podEvent(kube, (pod) => pod.status?.phase === "Running", "app=probed");
  t.false(isReady(probing), "not ready while the probe fails");
  healthy = true;
  const passed = await podEvent(kube, isReady, "app=probed");
  t.is(passed.metadata.name, probing.metadata.name);
});

test("fake kube cluster: a rolling update keeps the old pods until the new ones are ready", async (t) => {
  const kube = await startFakeKube({ cluster: { autoReady: false } });
  t.teardown(() => kube.close());
  const { apps, core } = clients(kube);
  await apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 1) });
  const first = await podEvent(kube, (pod) => pod.status?.phase === "Running", "app=web");
  await kube.cluster?.markReady("default", first.metadata.name);
  await waitForEvent(kube, deployments, (e) => (e.object.status?.availableReplicas === 1 ? true : undefined));

  const current = await apps.readNamespacedDeployment({ namespace: "default", name: "web" });
  const updated = { ...current };
  if (updated.spec?.template.spec?.containers[0])
    updated.spec.template.spec.containers[0].image = "dispatch/worker:2";
  await apps.replaceNamespacedDeployment({ namespace: "default", name: "web", body: updated });
  const second = await podEvent(
    kube,
    (pod) => pod.status?.phase === "Running" && pod.spec.containers[0].image === "dispatch/worker:2",
    "app=web",
  );
  t.not(second.metadata.labels["pod-template-hash"], first.metadata.labels["pod-template-hash"]);
  const both = await core.listNamespacedPod({ namespace: "default", labelSelector: "app=web" });
  t.deepEqual(
    both.items.map((p) => p.metadata?.name).sort(),
    [first.metadata.name, second.metadata.name].sort(),
    "the old pod serves until the new one is ready",
  );
  await kube.cluster?.markReady("default", second.metadata.name);
  await waitUntilGone(kube, pods, first.metadata.name);
  const status = await waitForEvent(kube, deployments, (e) =>
    e.object.status?.observedGeneration === 2 &&
    e.object.status?.updatedReplicas === 1 &&
    e.object.status?.replicas === 1
      ? e.object.status
      : undefined,
  );
  t.is(status.availableReplicas, 1);
  const sets = await apps.listNamespacedReplicaSet({ namespace: "default" });
  t.deepEqual(sets.items.map((rs) => rs.spec?.replicas).sort(), [0, 1], "the old ReplicaSet is kept at zero");
});

test("fake kube cluster: image pull failures, crash loops, OOM kills and unschedulable pods, as a kubelet reports them", async (t) => {
  const kube = await startFakeKube({ cluster: true });
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  kube.cluster?.failPods({ labels: { app: "pull" } }, { reason: "ImagePullBackOff" });
  kube.cluster?.failPods(
    { labels: { app: "crash" } },
    { reason: "CrashLoopBackOff", exitCode: 3, restarts: 2 },
  );
  kube.cluster?.failPods({ labels: { app: "oom" } }, { reason: "OOMKilled", restarts: 1 });
  const lift = kube.cluster?.failPods({ labels: { app: "big" } }, { reason: "Unschedulable" });
  for (const name of ["pull", "crash", "oom", "big"]) {
    await apps.createNamespacedDeployment({
      namespace: "default",
      body: deployment(name, 1, { image: `dispatch/${name}:1` }),
    });
  }
  const waiting = (pod: Json) => pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;

  const pull = await podEvent(kube, (pod) => waiting(pod) === "ImagePullBackOff", "app=pull");
  t.is(pull.status.phase, "Pending");
  t.is(pull.status.containerStatuses[0].state.waiting.message, 'Back-off pulling image "dispatch/pull:1"');

  const crash = await podEvent(
    kube,
    (pod) => pod.status?.containerStatuses?.[0]?.restartCount === 2,
    "app=crash",
  );
  t.is(waiting(crash), "CrashLoopBackOff");
  t.like(crash.status.containerStatuses[0].lastState.terminated, { exitCode: 3, reason: "Error" });
  t.false(isReady(crash));

  const oom = await podEvent(
    kube,
    (pod) => pod.status?.containerStatuses?.[0]?.restartCount === 1,
    "app=oom",
  );
  t.like(oom.status.containerStatuses[0].lastState.terminated, { exitCode: 137, reason: "OOMKilled" });

  const big = await podEvent(
    kube,
    (pod) => pod.status?.conditions?.some((c: Json) => c.type === "PodScheduled" && c.status === "False"),
    "app=big",
  );
  const scheduled = big.status.conditions.find((c: Json) => c.type === "PodScheduled");
  t.is(scheduled.reason, "Unschedulable");
  t.regex(scheduled.message, /nodes are available/);
  t.is(big.spec.nodeName, undefined);
  lift?.();
  const placed = await podEvent(kube, isReady, "app=big");
  t.is(placed.metadata.name, big.metadata.name);

  const deploymentStatus = await waitForEvent(kube, deployments, (e) =>
    e.object.metadata.name === "crash" && e.object.status?.replicas === 1 ? e.object.status : undefined,
  );
  t.is(deploymentStatus.availableReplicas, undefined);
  t.true(deploymentStatus.conditions.some((c: Json) => c.type === "Available" && c.status === "False"));
  t.deepEqual(kube.cluster?.errors, []);
});

test("fake kube cluster: a crashed or exited container is restarted, with its restart count and last state", async (t) => {
  let exit: (code: number) => void = () => {};
  let starts = 0;
  const kube = await startFakeKube({
    cluster: {
      podRunner: () => {
        starts += 1;
        return {
          port: 9000 + starts,
          exited: new Promise((resolve) => {
            exit = (exitCode) => resolve({ exitCode });
          }),
        };
      },
    },
  });
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  await apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 1) });
  const pod = await podEvent(kube, isReady, "app=web");
  await kube.cluster?.crash("default", pod.metadata.name, { reason: "OOMKilled" });
  const restarted = await podEvent(
    kube,
    (p) => isReady(p) && p.status.containerStatuses[0].restartCount === 1,
    "app=web",
  );
  t.like(restarted.status.containerStatuses[0].lastState.terminated, { reason: "OOMKilled", exitCode: 137 });
  t.is(starts, 2);

  exit(3);
  const exited = await podEvent(
    kube,
    (p) => isReady(p) && p.status.containerStatuses[0].restartCount === 2,
    "app=web",
  );
  t.like(exited.status.containerStatuses[0].lastState.terminated, { reason: "Error", exitCode: 3 });
  t.is(starts, 3);
  t.is(exited.metadata.name, pod.metadata.name, "the kubelet restarts the container in the same pod");
});
