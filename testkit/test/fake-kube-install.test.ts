import { type KubernetesObject, PatchStrategy } from "@kubernetes/client-node";
import test from "ava";
import { startFakeKube } from "../src/index.js";
import { clients } from "./fake-kube-helpers.js";

/** The kinds `dispatch install` applies, one of each, as manifests. */
const manifests: KubernetesObject[] = [
  {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: "dispatch", labels: { "app.kubernetes.io/part-of": "dispatch" } },
  },
  {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name: "control-plane",
      namespace: "dispatch",
      labels: { "app.kubernetes.io/part-of": "dispatch" },
    },
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "control-plane", namespace: "dispatch" },
    rules: [
      {
        apiGroups: ["apps"],
        resources: ["deployments", "deployments/scale"],
        verbs: ["get", "list", "watch", "patch"],
      },
    ],
  } as KubernetesObject,
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "control-plane", namespace: "dispatch" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "control-plane" },
    subjects: [{ kind: "ServiceAccount", name: "control-plane", namespace: "dispatch" }],
  } as KubernetesObject,
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "dispatch:nodes" },
    rules: [{ apiGroups: [""], resources: ["nodes"], verbs: ["get"] }],
  } as KubernetesObject,
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "dispatch:nodes" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "dispatch:nodes" },
    subjects: [{ kind: "ServiceAccount", name: "control-plane", namespace: "dispatch" }],
  } as KubernetesObject,
  {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: "control-plane", namespace: "dispatch" },
    spec: { minAvailable: 1, selector: { matchLabels: { app: "control-plane" } } },
  } as KubernetesObject,
  {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "functions", namespace: "dispatch" },
    spec: {
      podSelector: { matchLabels: { role: "function" } },
      policyTypes: ["Ingress"],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: "envoy" } } }] }],
    },
  } as KubernetesObject,
  {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: "nats", namespace: "dispatch" },
    spec: {
      serviceName: "nats",
      replicas: 3,
      selector: { matchLabels: { app: "nats" } },
      template: {
        metadata: { labels: { app: "nats" } },
        spec: { containers: [{ name: "nats", image: "nats:2.10" }] },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data" },
          spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } },
        },
      ],
    },
  } as KubernetesObject,
  {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "envoy-bootstrap", namespace: "dispatch" },
    data: { "envoy.yaml": "node: {id: envoy}\n" },
  } as KubernetesObject,
];

test("fake kube: every kind dispatch install applies is accepted by server-side apply, stored and listed", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { objects } = clients(kube);
  for (const manifest of manifests) {
    const applied = await objects.patch(
      manifest,
      undefined,
      undefined,
      "dispatch-install",
      true,
      PatchStrategy.ServerSideApply,
    );
    t.is(applied.kind, manifest.kind);
    t.truthy(applied.metadata?.uid, `${manifest.kind} stored`);
  }
  for (const manifest of manifests) {
    const read = await objects.read({
      apiVersion: manifest.apiVersion ?? "",
      kind: manifest.kind ?? "",
      metadata: { name: manifest.metadata?.name ?? "", namespace: manifest.metadata?.namespace ?? "" },
    });
    t.is(
      read.metadata?.managedFields?.[0]?.manager,
      "dispatch-install",
      `${manifest.kind} is owned by its applier`,
    );
  }
  t.like(kube.get("statefulsets", "dispatch", "nats"), { spec: { replicas: 3, serviceName: "nats" } });
  const again = await objects.patch(
    manifests[6] as KubernetesObject,
    undefined,
    undefined,
    "dispatch-install",
    true,
    PatchStrategy.ServerSideApply,
  );
  t.is(again.metadata?.generation, 1, "applying the same manifest again changes nothing");
  const roles = await objects.list("rbac.authorization.k8s.io/v1", "ClusterRole");
  t.deepEqual(
    roles.items.map((r) => r.metadata?.name),
    ["dispatch:nodes"],
  );
});

test("fake kube cluster: with a kubelet delay, a pod runs first and is ready only afterwards", async (t) => {
  const kube = await startFakeKube({ cluster: { readyDelayMs: 300 } });
  t.teardown(() => kube.close());
  const { core, watch } = clients(kube);
  const phases: string[] = [];
  let sawReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    sawReady = resolve;
  });
  const controller = await watch.watch(
    "/api/v1/namespaces/default/pods",
    { resourceVersion: String(kube.resourceVersion) },
    (_type, pod) => {
      const isReady = pod.status?.conditions?.some(
        (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
      );
      phases.push(`${pod.status?.phase}${isReady ? "+ready" : ""}`);
      if (isReady) sawReady();
    },
    () => {},
  );
  t.teardown(() => controller.abort());
  await core.createNamespacedPod({
    namespace: "default",
    body: { metadata: { name: "solo" }, spec: { containers: [{ name: "c", image: "x:1" }] } },
  });
  await ready;
  t.is(phases[0], "Pending");
  t.true(phases.includes("Running"), `a running, not yet ready pod came first: ${phases.join(", ")}`);
  t.is(phases.at(-1), "Running+ready");
});
