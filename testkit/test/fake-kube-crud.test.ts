import type { V1DeploymentSpec } from "@kubernetes/client-node";
import test from "ava";
import { startFakeKube } from "../src/index.js";
import { clients, deployment, failure } from "./fake-kube-helpers.js";

test("fake kube: create, get, list, update and delete through the official client, with a global resourceVersion", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  const before = kube.resourceVersion;
  const created = await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "settings", labels: { tier: "a" } }, data: { color: "blue" } },
  });
  t.is(created.metadata?.namespace, "default");
  t.regex(created.metadata?.uid ?? "", /^[0-9a-f-]{36}$/);
  t.regex(String(created.metadata?.creationTimestamp?.toISOString()), /^\d{4}-/);
  const rv1 = Number(created.metadata?.resourceVersion);
  t.true(rv1 > before);

  const secret = await core.createNamespacedSecret({
    namespace: "default",
    body: { metadata: { name: "token" }, stringData: { key: "s3cret" } },
  });
  t.true(Number(secret.metadata?.resourceVersion) > rv1, "one counter across kinds");
  t.is(secret.data?.key, Buffer.from("s3cret").toString("base64"), "stringData is folded into base64 data");
  t.is(secret.stringData, undefined);
  t.is(secret.type, "Opaque");

  const read = await core.readNamespacedConfigMap({ namespace: "default", name: "settings" });
  t.deepEqual(read.data, { color: "blue" });
  t.is(read.metadata?.resourceVersion, created.metadata?.resourceVersion);

  const updated = await core.replaceNamespacedConfigMap({
    namespace: "default",
    name: "settings",
    body: { ...read, data: { color: "green" } },
  });
  t.true(Number(updated.metadata?.resourceVersion) > Number(secret.metadata?.resourceVersion));
  t.is(updated.metadata?.uid, created.metadata?.uid);

  const unchanged = await core.replaceNamespacedConfigMap({
    namespace: "default",
    name: "settings",
    body: updated,
  });
  t.is(
    unchanged.metadata?.resourceVersion,
    updated.metadata?.resourceVersion,
    "a write that changes nothing keeps the resourceVersion",
  );

  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "other", labels: { tier: "b" } } },
  });
  const list = await core.listNamespacedConfigMap({ namespace: "default" });
  t.deepEqual(
    list.items.map((i) => i.metadata?.name),
    ["other", "settings"],
  );
  t.is(list.metadata?.resourceVersion, String(kube.resourceVersion));
  const byLabel = await core.listNamespacedConfigMap({
    namespace: "default",
    labelSelector: "tier in (a,c)",
  });
  t.deepEqual(
    byLabel.items.map((i) => i.metadata?.name),
    ["settings"],
  );
  const byName = await core.listNamespacedConfigMap({
    namespace: "default",
    fieldSelector: "metadata.name=other",
  });
  t.deepEqual(
    byName.items.map((i) => i.metadata?.name),
    ["other"],
  );
  const notA = await core.listNamespacedConfigMap({ namespace: "default", labelSelector: "tier!=a" });
  t.deepEqual(
    notA.items.map((i) => i.metadata?.name),
    ["other"],
  );

  await core.deleteNamespacedConfigMap({ namespace: "default", name: "settings" });
  const gone = await failure(core.readNamespacedConfigMap({ namespace: "default", name: "settings" }));
  t.is(gone.code, 404);
});

test("fake kube: errors are Status objects: 404 NotFound, 409 AlreadyExists, 409 Conflict on a stale resourceVersion", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { apps } = clients(kube);

  const missing = await failure(apps.readNamespacedDeployment({ namespace: "default", name: "nope" }));
  t.is(missing.code, 404);
  t.like(missing.status, {
    kind: "Status",
    status: "Failure",
    reason: "NotFound",
    code: 404,
    message: 'deployments.apps "nope" not found',
    details: { name: "nope", group: "apps", kind: "deployments" },
  });

  const first = await apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 1) });
  const twice = await failure(
    apps.createNamespacedDeployment({ namespace: "default", body: deployment("web", 1) }),
  );
  t.is(twice.code, 409);
  t.like(twice.status, {
    reason: "AlreadyExists",
    code: 409,
    details: { name: "web", group: "apps", kind: "deployments" },
  });

  const fresh = await apps.replaceNamespacedDeployment({
    namespace: "default",
    name: "web",
    body: { ...first, spec: { ...first.spec, replicas: 3 } } as typeof first,
  });
  t.is(fresh.spec?.replicas, 3);
  const stale = await failure(
    apps.replaceNamespacedDeployment({
      namespace: "default",
      name: "web",
      body: { ...first, spec: { ...first.spec, replicas: 5 } } as typeof first,
    }),
  );
  t.is(stale.code, 409);
  t.is(stale.status.reason, "Conflict");
  t.regex(
    stale.status.message ?? "",
    /the object has been modified; please apply your changes to the latest version/,
  );
  t.is(
    (await apps.readNamespacedDeployment({ namespace: "default", name: "web" })).spec?.replicas,
    3,
    "the stale write changed nothing",
  );

  const noNamespace = await failure(
    apps.createNamespacedDeployment({ namespace: "absent", body: deployment("web", 1) }),
  );
  t.is(noNamespace.code, 404);
  t.is(noNamespace.status.message, 'namespaces "absent" not found');
});

test("fake kube: 422 Invalid names every broken field; 401 without the token", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { core, apps } = clients(kube);
  const bad = await failure(
    core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "Bad_Name" } } }),
  );
  t.is(bad.code, 422);
  t.is(bad.status.reason, "Invalid");
  t.is(bad.status.details?.kind, "ConfigMap");
  t.is(bad.status.details?.causes?.[0]?.field, "metadata.name");
  t.regex(
    bad.status.message ?? "",
    /ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
  );

  const spec = deployment("web", -1);
  spec.spec.template.metadata.labels = { app: "other" };
  const many = await failure(apps.createNamespacedDeployment({ namespace: "default", body: spec }));
  t.is(many.code, 422);
  t.deepEqual(
    many.status.details?.causes?.map((c) => c.field),
    ["spec.replicas", "spec.template.metadata.labels"],
  );

  const noName = await failure(
    core.createNamespacedConfigMap({ namespace: "default", body: { metadata: {} } }),
  );
  t.is(noName.code, 422);
  t.regex(noName.status.message ?? "", /name or generateName is required/);

  const generated = await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { generateName: "cfg-" } },
  });
  t.regex(generated.metadata?.name ?? "", /^cfg-[a-z0-9]{5}$/);

  const kcWrong = clients({
    ...kube,
    kubeconfig: { ...kube.kubeconfig, users: [{ name: "dispatch-fake", token: "wrong" }] },
  });
  const denied = await failure(kcWrong.core.listNamespace());
  t.is(denied.code, 401);
});

test("fake kube: generation moves on spec changes only; status is a subresource", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { apps } = clients(kube);
  const created = await apps.createNamespacedDeployment({
    namespace: "default",
    body: { ...deployment("web", 1), status: { replicas: 9 } },
  });
  t.is(created.metadata?.generation, 1);
  t.is(created.status?.replicas, undefined, "status sent with a create is dropped");
  t.is(created.spec?.strategy?.type, "RollingUpdate", "defaults are filled in");
  t.is(created.spec?.template?.spec?.containers?.[0]?.imagePullPolicy, "IfNotPresent");

  const labelled = await apps.replaceNamespacedDeployment({
    namespace: "default",
    name: "web",
    body: { ...created, metadata: { ...created.metadata, labels: { app: "web", extra: "yes" } } },
  });
  t.is(labelled.metadata?.generation, 1, "a metadata change leaves generation");

  const withStatus = await apps.replaceNamespacedDeploymentStatus({
    namespace: "default",
    name: "web",
    body: {
      ...labelled,
      spec: { ...(labelled.spec as V1DeploymentSpec), replicas: 7 },
      status: { replicas: 1, observedGeneration: 1 },
    },
  });
  t.is(withStatus.status?.replicas, 1);
  t.is(withStatus.spec?.replicas, 1, "a status write leaves spec alone");
  t.is(withStatus.metadata?.generation, 1, "a status write leaves generation");

  const scaled = await apps.replaceNamespacedDeployment({
    namespace: "default",
    name: "web",
    body: {
      ...withStatus,
      spec: { ...(withStatus.spec as V1DeploymentSpec), replicas: 4 },
      status: { replicas: 99 },
    },
  });
  t.is(scaled.metadata?.generation, 2, "a spec change bumps generation");
  t.is(scaled.status?.replicas, 1, "a main-resource write leaves status alone");
});

test("fake kube: finalizers hold a deleted object until removed; deleting an owner collects its dependents", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { core, apps } = clients(kube);
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "held", finalizers: ["dispatch.dev/cleanup"] } },
  });
  await core.deleteNamespacedConfigMap({ namespace: "default", name: "held" });
  const marked = await core.readNamespacedConfigMap({ namespace: "default", name: "held" });
  t.truthy(marked.metadata?.deletionTimestamp);
  const adding = await failure(
    core.replaceNamespacedConfigMap({
      namespace: "default",
      name: "held",
      body: { ...marked, metadata: { ...marked.metadata, finalizers: ["dispatch.dev/cleanup", "more/x"] } },
    }),
  );
  t.is(adding.code, 422);
  await core.replaceNamespacedConfigMap({
    namespace: "default",
    name: "held",
    body: { ...marked, metadata: { ...marked.metadata, finalizers: [] } },
  });
  t.is((await failure(core.readNamespacedConfigMap({ namespace: "default", name: "held" }))).code, 404);

  const owner = await apps.createNamespacedDeployment({ namespace: "default", body: deployment("owner", 0) });
  const ref = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    name: "owner",
    uid: owner.metadata?.uid ?? "",
    controller: true,
  };
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "dependent", ownerReferences: [ref] } },
  });
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "orphan-me", ownerReferences: [ref] } },
  });
  const other = await apps.createNamespacedDeployment({ namespace: "default", body: deployment("other", 0) });
  const otherRef = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    name: "other",
    uid: other.metadata?.uid ?? "",
  };
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "shared", ownerReferences: [ref, otherRef] } },
  });

  await apps.deleteNamespacedDeployment({ namespace: "default", name: "owner" });
  t.is((await failure(core.readNamespacedConfigMap({ namespace: "default", name: "dependent" }))).code, 404);
  t.is((await failure(core.readNamespacedConfigMap({ namespace: "default", name: "orphan-me" }))).code, 404);
  const shared = await core.readNamespacedConfigMap({ namespace: "default", name: "shared" });
  t.deepEqual(
    shared.metadata?.ownerReferences?.map((r) => r.name),
    ["other"],
    "a dependent with another live owner stays, without the gone owner's reference",
  );

  const third = await apps.createNamespacedDeployment({ namespace: "default", body: deployment("third", 0) });
  const thirdRef = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    name: "third",
    uid: third.metadata?.uid ?? "",
  };
  await core.createNamespacedConfigMap({
    namespace: "default",
    body: { metadata: { name: "kept", ownerReferences: [thirdRef] } },
  });
  await apps.deleteNamespacedDeployment({ namespace: "default", name: "third", propagationPolicy: "Orphan" });
  const kept = await core.readNamespacedConfigMap({ namespace: "default", name: "kept" });
  t.is(kept.metadata?.ownerReferences, undefined, "Orphan keeps dependents and drops the reference");
});

test("fake kube: delete preconditions, dry run and deleting a namespace with its contents", async (t) => {
  const kube = await startFakeKube({ namespaces: ["team"] });
  t.teardown(() => kube.close());
  const { core } = clients(kube);
  const cm = await core.createNamespacedConfigMap({ namespace: "team", body: { metadata: { name: "a" } } });
  const wrongUid = await failure(
    core.deleteNamespacedConfigMap({
      namespace: "team",
      name: "a",
      body: { preconditions: { uid: "0000" } },
    }),
  );
  t.is(wrongUid.code, 409);
  await core.deleteNamespacedConfigMap({ namespace: "team", name: "a", dryRun: "All" });
  t.truthy(kube.get("configmaps", "team", "a"), "a dry run deletes nothing");
  const dry = await core.createNamespacedConfigMap({
    namespace: "team",
    body: { metadata: { name: "b" } },
    dryRun: "All",
  });
  t.is(dry.metadata?.name, "b");
  t.is(kube.get("configmaps", "team", "b"), undefined, "a dry run creates nothing");
  await core.deleteNamespacedConfigMap({
    namespace: "team",
    name: "a",
    body: {
      preconditions: { uid: cm.metadata?.uid ?? "", resourceVersion: cm.metadata?.resourceVersion ?? "" },
    },
  });
  t.is(kube.get("configmaps", "team", "a"), undefined);

  await core.createNamespacedSecret({ namespace: "team", body: { metadata: { name: "s" } } });
  await core.deleteNamespace({ name: "team" });
  t.is(kube.get("secrets", "team", "s"), undefined);
  t.is(kube.get("namespaces", "", "team"), undefined);
});

test("fake kube: lists page with limit and continue over a consistent snapshot; discovery serves KubernetesObjectApi", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { core, objects } = clients(kube);
  for (const name of ["a", "b", "c", "d", "e"]) {
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name } } });
  }
  const first = await core.listNamespacedConfigMap({ namespace: "default", limit: 2 });
  t.deepEqual(
    first.items.map((i) => i.metadata?.name),
    ["a", "b"],
  );
  t.is(first.metadata?.remainingItemCount, 3);
  await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "c2" } } });
  const second = await core.listNamespacedConfigMap({
    namespace: "default",
    limit: 2,
    _continue: first.metadata?._continue ?? "",
  });
  t.deepEqual(
    second.items.map((i) => i.metadata?.name),
    ["c", "d"],
    "later pages read the snapshot of the first",
  );
  t.is(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
  kube.compact();
  const expired = await failure(
    core.listNamespacedConfigMap({
      namespace: "default",
      limit: 2,
      _continue: second.metadata?._continue ?? "",
    }),
  );
  t.is(expired.code, 410);
  t.is(expired.status.reason, "Expired");

  const read = await objects.read({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "a", namespace: "default" },
  });
  t.is(read.metadata?.name, "a");
  const list = await objects.list("apps/v1", "Deployment", "default");
  t.deepEqual(list.items, []);
});
