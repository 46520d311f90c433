import { PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import test from "ava";
import { startFakeKube } from "../src/index.js";
import { clients, deployment, failure } from "./fake-kube-helpers.js";

test("fake kube /scale: read, replace with a resourceVersion precondition, and invalid replicas", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  await apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 1) });
  const scale = await apps.readNamespacedDeploymentScale({ namespace: "default", name: "web" });
  t.is(scale.kind, "Scale");
  t.is(scale.apiVersion, "autoscaling/v1");
  t.is(scale.spec?.replicas, 1);
  t.is(scale.status?.selector, "app=web");

  const replaced = await apps.replaceNamespacedDeploymentScale({
    namespace: "default",
    name: "web",
    fieldManager: "dispatch-scaler",
    body: {
      metadata: { name: "web", resourceVersion: scale.metadata?.resourceVersion ?? "" },
      spec: { replicas: 3 },
    },
  });
  t.is(replaced.spec?.replicas, 3);
  t.true(Number(replaced.metadata?.resourceVersion) > Number(scale.metadata?.resourceVersion));
  const after = await apps.readNamespacedDeployment({ namespace: "default", name: "web" });
  t.is(after.spec?.replicas, 3);
  t.is(after.metadata?.generation, 2, "scaling changes the spec, so the generation");
  const entry = after.metadata?.managedFields?.find((m) => m.manager === "dispatch-scaler");
  t.is(entry?.subresource, "scale");
  t.is(entry?.operation, "Update");
  t.deepEqual(entry?.fieldsV1, { "f:spec": { "f:replicas": {} } });

  const stale = await failure(
    apps.replaceNamespacedDeploymentScale({
      namespace: "default",
      name: "web",
      body: {
        metadata: { name: "web", resourceVersion: scale.metadata?.resourceVersion ?? "" },
        spec: { replicas: 9 },
      },
    }),
  );
  t.is(stale.code, 409);
  t.is(stale.status.reason, "Conflict");

  const negative = await failure(
    apps.replaceNamespacedDeploymentScale({
      namespace: "default",
      name: "web",
      body: { metadata: { name: "web" }, spec: { replicas: -1 } },
    }),
  );
  t.is(negative.code, 422);
  t.like(negative.status, { reason: "Invalid", details: { kind: "Scale", group: "autoscaling" } });
  t.is(negative.status.details?.causes?.[0]?.field, "spec.replicas");

  const missing = await failure(apps.readNamespacedDeploymentScale({ namespace: "default", name: "nope" }));
  t.is(missing.code, 404);
  t.is(missing.status.message, 'deployments.apps "nope" not found');
});

test("fake kube /scale: patches as the official client sends them (JSON patch by default, merge and strategic on request)", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  await apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 1) });

  const jsonPatched = await apps.patchNamespacedDeploymentScale({
    namespace: "default",
    name: "web",
    body: [{ op: "replace", path: "/spec/replicas", value: 0 }],
  });
  t.is(jsonPatched.spec?.replicas, 0);
  t.is(kube.requests.at(-1)?.verb, "patch");

  const merged = await apps.patchNamespacedDeploymentScale(
    { namespace: "default", name: "web", body: { spec: { replicas: 2 } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  t.is(merged.spec?.replicas, 2);

  const strategic = await apps.patchNamespacedDeploymentScale(
    { namespace: "default", name: "web", body: { spec: { replicas: 4 } } },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
  t.is(strategic.spec?.replicas, 4);
  t.is((await apps.readNamespacedDeployment({ namespace: "default", name: "web" })).spec?.replicas, 4);

  const failedTest = await failure(
    apps.patchNamespacedDeploymentScale({
      namespace: "default",
      name: "web",
      body: [
        { op: "test", path: "/spec/replicas", value: 1 },
        { op: "replace", path: "/spec/replicas", value: 7 },
      ],
    }),
  );
  t.is(failedTest.code, 422);
  t.is(
    (await apps.readNamespacedDeploymentScale({ namespace: "default", name: "web" })).spec?.replicas,
    4,
    "a failed patch changes nothing",
  );

  const staleMerge = await failure(
    apps.patchNamespacedDeploymentScale(
      {
        namespace: "default",
        name: "web",
        body: { metadata: { resourceVersion: "1" }, spec: { replicas: 1 } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    ),
  );
  t.is(staleMerge.code, 409, "a resourceVersion in a patch is a precondition");
});

test("fake kube /status: patches and replaces status only; strategic merge patches merge containers by name", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  const body = deployment("web", 1);
  body.spec.template.spec.containers.push({
    name: "sidecar",
    image: "proxy:1",
    ports: [{ name: "admin", containerPort: 9901 }],
  });
  await apps.createNamespacedDeployment({ namespace: "default", body });
  const status = await apps.patchNamespacedDeploymentStatus(
    {
      namespace: "default",
      name: "web",
      body: { status: { readyReplicas: 1, replicas: 1 }, spec: { replicas: 8 } },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  t.is(status.status?.readyReplicas, 1);
  t.is(status.spec?.replicas, 1);

  const patched = await apps.patchNamespacedDeployment(
    {
      namespace: "default",
      name: "web",
      body: { spec: { template: { spec: { containers: [{ name: "sidecar", image: "proxy:2" }] } } } },
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
  t.deepEqual(
    patched.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`),
    ["worker=dispatch/worker:1", "sidecar=proxy:2"],
  );
  const replacedList = await apps.patchNamespacedDeployment(
    {
      namespace: "default",
      name: "web",
      body: { spec: { template: { spec: { containers: [{ name: "sidecar", image: "proxy:3" }] } } } },
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  t.deepEqual(
    replacedList.spec?.template.spec?.containers.map((c) => c.name),
    ["sidecar"],
    "a JSON merge patch replaces lists whole",
  );
});
