import { PatchStrategy, setHeaderOptions, type V1Deployment } from "@kubernetes/client-node";
import test from "ava";
import { type FakeKube, startFakeKube } from "../src/index.js";
import { clients, deployment, failure, rawRequest } from "./fake-kube-helpers.js";

/** A server-side apply through KubernetesObjectApi, as the driver and `dispatch install` write. */
function apply(kube: FakeKube, object: V1Deployment, manager: string, force = false) {
  return clients(kube).objects.patch(
    { ...object, metadata: { ...object.metadata, namespace: "default" } },
    undefined,
    undefined,
    manager,
    force,
    PatchStrategy.ServerSideApply,
  );
}

/** The value under a path of keys in a JSON tree, or undefined. */
function dig(value: unknown, ...keys: string[]): unknown {
  let node = value;
  for (const key of keys)
    node = typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return node;
}

function owners(object: V1Deployment, field: string): string[] {
  return (object.metadata?.managedFields ?? [])
    .filter((m) => JSON.stringify(m.fieldsV1).includes(`"f:${field}"`))
    .map((m) => `${m.manager}/${m.operation}${m.subresource ? `/${m.subresource}` : ""}`)
    .sort();
}

test("fake kube server-side apply: two field managers share equal values, conflict on different ones, and force takes over", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  const driverConfig = deployment("fn", 1) as V1Deployment;
  const created = await apply(kube, driverConfig, "dispatch-driver");
  t.is(created.spec?.replicas, 1);
  t.is(created.metadata?.generation, 1);
  t.is(kube.requests.at(-1)?.code, 201, "apply creates a missing object");
  const entry = created.metadata?.managedFields?.find((m) => m.manager === "dispatch-driver");
  t.is(entry?.operation, "Apply");
  t.deepEqual(dig(entry?.fieldsV1, "f:spec", "f:replicas"), {});
  t.truthy(
    dig(entry?.fieldsV1, "f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"worker"}'),
    "containers are owned item by item, by name",
  );

  // Another manager applying the same value shares the field; no conflict.
  const same = { ...deployment("fn", 1), metadata: { name: "fn", labels: { team: "a" } } } as V1Deployment;
  const shared = await apply(kube, same, "ops");
  t.deepEqual(owners(shared, "replicas"), ["dispatch-driver/Apply", "ops/Apply"]);
  t.is(shared.metadata?.labels?.team, "a");
  t.is(shared.metadata?.labels?.app, "fn", "what others applied stays");

  // A different value for a field another manager owns is a conflict naming both.
  const conflicting = { ...same, spec: { ...same.spec, replicas: 3 } } as V1Deployment;
  const refused = await failure(apply(kube, conflicting, "ops"));
  t.is(refused.code, 409);
  t.is(refused.status.reason, "Conflict");
  t.is(
    refused.status.message,
    'Apply failed with 1 conflict: conflict with "dispatch-driver" using apps/v1: .spec.replicas',
  );
  t.deepEqual(refused.status.details?.causes, [
    {
      reason: "FieldManagerConflict",
      message: 'conflict with "dispatch-driver" using apps/v1',
      field: ".spec.replicas",
    },
  ]);
  t.is(
    (await apps.readNamespacedDeployment({ namespace: "default", name: "fn" })).spec?.replicas,
    1,
    "a refused apply changes nothing",
  );

  const forced = await apply(kube, conflicting, "ops", true);
  t.is(forced.spec?.replicas, 3);
  t.deepEqual(owners(forced, "replicas"), ["ops/Apply"], "force takes the field over");
  t.is(forced.metadata?.generation, 2);

  // The driver applying again with its old value now conflicts with ops.
  const back = await failure(apply(kube, driverConfig, "dispatch-driver"));
  t.regex(back.status.message ?? "", /conflict with "ops" using apps\/v1: \.spec\.replicas/);
});

test("fake kube server-side apply: fields a manager stops applying are removed unless another manager owns them", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const withExtras = deployment("fn", 1) as V1Deployment;
  withExtras.metadata = {
    name: "fn",
    labels: { app: "fn", team: "a" },
    annotations: { "dispatch.dev/revision": "1" },
  };
  await apply(kube, withExtras, "dispatch-driver");
  await apply(
    kube,
    { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "fn", labels: { team: "a" } } },
    "ops",
  );
  const trimmed = deployment("fn", 1) as V1Deployment;
  trimmed.metadata = { name: "fn", labels: { app: "fn" } };
  const after = await apply(kube, trimmed, "dispatch-driver");
  t.is(
    after.metadata?.annotations?.["dispatch.dev/revision"],
    undefined,
    "the driver's dropped annotation is gone",
  );
  t.is(after.metadata?.labels?.team, "a", "a label ops still owns stays");
  t.is(after.spec?.replicas, 1);

  // A container the driver stops applying goes; a field set by an Update manager in it keeps it.
  const two = deployment("fn", 1) as V1Deployment;
  two.metadata = { name: "fn", labels: { app: "fn" } };
  two.spec?.template.spec?.containers.push({ name: "sidecar", image: "proxy:1" });
  const withSidecar = await apply(kube, two, "dispatch-driver");
  t.deepEqual(
    withSidecar.spec?.template.spec?.containers.map((c) => c.name),
    ["worker", "sidecar"],
  );
  const without = await apply(kube, trimmed, "dispatch-driver");
  t.deepEqual(
    without.spec?.template.spec?.containers.map((c) => c.name),
    ["worker"],
  );

  await apply(kube, two, "dispatch-driver");
  await clients(kube).apps.patchNamespacedDeployment(
    {
      namespace: "default",
      name: "fn",
      fieldManager: "kubectl-edit",
      body: { spec: { template: { spec: { containers: [{ name: "sidecar", image: "proxy:debug" }] } } } },
    },
    setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
  );
  const kept = await apply(kube, trimmed, "dispatch-driver");
  t.deepEqual(
    kept.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`),
    ["worker=dispatch/worker:1", "sidecar=proxy:debug"],
    "an item another manager changed stays, with its key",
  );
});

test("fake kube server-side apply: replicas set through /scale by another manager conflict; a config without replicas leaves them", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  await apply(kube, deployment("fn", 0) as V1Deployment, "dispatch-driver");
  await apps.replaceNamespacedDeploymentScale({
    namespace: "default",
    name: "fn",
    fieldManager: "autoscaler",
    body: { metadata: { name: "fn" }, spec: { replicas: 5 } },
  });
  const scaled = await apps.readNamespacedDeployment({ namespace: "default", name: "fn" });
  t.deepEqual(
    owners(scaled, "replicas"),
    ["autoscaler/Update/scale"],
    "the /scale write took the field from the applier",
  );

  const refused = await failure(apply(kube, deployment("fn", 0) as V1Deployment, "dispatch-driver"));
  t.regex(refused.status.message ?? "", /conflict with "autoscaler" using apps\/v1: \.spec\.replicas/);

  const withoutReplicas = deployment("fn", 0) as V1Deployment;
  delete withoutReplicas.spec?.replicas;
  if (withoutReplicas.spec)
    withoutReplicas.spec.template.spec = { containers: [{ name: "worker", image: "dispatch/worker:2" }] };
  const updated = await apply(kube, withoutReplicas, "dispatch-driver");
  t.is(updated.spec?.replicas, 5, "replicas stay with whoever scales");
  t.is(updated.spec?.template.spec?.containers[0]?.image, "dispatch/worker:2");

  // Applying to /scale itself is an apply of spec.replicas.
  const scale = await rawRequest(
    kube,
    "PATCH",
    "/apis/apps/v1/namespaces/default/deployments/fn/scale?fieldManager=dispatch-driver&force=true",
    JSON.stringify({
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: "fn" },
      spec: { replicas: 2 },
    }),
    { "content-type": "application/apply-patch+yaml" },
  );
  t.is(scale.code, 200);
  const after = await apps.readNamespacedDeployment({ namespace: "default", name: "fn" });
  t.is(after.spec?.replicas, 2);
  t.deepEqual(owners(after, "replicas"), ["dispatch-driver/Apply/scale"]);
});

test("fake kube server-side apply: YAML bodies, a required fieldManager, and clear refusals", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const path = "/api/v1/namespaces/default/configmaps/settings";
  const yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n";
  const created = await rawRequest(kube, "PATCH", `${path}?fieldManager=install`, yaml, {
    "content-type": "application/apply-patch+yaml",
  });
  t.is(created.code, 201);
  t.is(JSON.parse(created.body).data.color, "blue");

  const noManager = await rawRequest(kube, "PATCH", path, yaml, {
    "content-type": "application/apply-patch+yaml",
  });
  t.is(noManager.code, 422);
  t.regex(JSON.parse(noManager.body).message, /fieldManager: Required value/);

  const otherName = await rawRequest(
    kube,
    "PATCH",
    `${path}?fieldManager=install`,
    yaml.replace("name: settings", "name: other"),
    {
      "content-type": "application/apply-patch+yaml",
    },
  );
  t.is(otherName.code, 400);
  t.regex(JSON.parse(otherName.body).message, /does not match the name on the URL/);

  const wrongKind = await rawRequest(
    kube,
    "PATCH",
    `${path}?fieldManager=install`,
    yaml.replace("kind: ConfigMap", "kind: Secret"),
    {
      "content-type": "application/apply-patch+yaml",
    },
  );
  t.is(wrongKind.code, 400);

  const broken = await rawRequest(kube, "PATCH", `${path}?fieldManager=install`, "data: [unclosed", {
    "content-type": "application/apply-patch+yaml",
  });
  t.is(broken.code, 400);
  t.is(JSON.parse(broken.body).kind, "Status");

  const forceOnMerge = await rawRequest(kube, "PATCH", `${path}?force=true`, "{}", {
    "content-type": "application/merge-patch+json",
  });
  t.is(forceOnMerge.code, 400);

  const protobuf = await rawRequest(kube, "POST", "/api/v1/namespaces/default/configmaps", "x", {
    "content-type": "application/vnd.kubernetes.protobuf",
  });
  t.is(protobuf.code, 415);
});
