import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type FakeKube, startFakeKube } from "@dispatch/testkit";
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1StatefulSet,
  Watch,
} from "@kubernetes/client-node";
import anyTest, { type TestFn } from "ava";
import { loadInstallConfig } from "../src/install/load-config.js";
import { renderInstall } from "../src/install/render.js";

// `dispatch install` and `dispatch uninstall`, the real binary, against the fake
// Kubernetes API server (testkit): server-side apply, generated Secrets, the
// rollout wait, and deletion by label. Each test has a fake of its own.

const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));
const test = anyTest as TestFn<{ kube: FakeKube }>;

test.beforeEach(async (t) => {
  // The simulated cluster runs Deployments (pods turn ready at once); StatefulSets are stored only.
  t.context.kube = await startFakeKube({ cluster: true });
});

test.afterEach.always(async (t) => {
  await t.context.kube?.close();
});

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function dispatch(kube: FakeKube, args: string[]): Promise<Result> {
  const home = await mkdtemp(join(tmpdir(), "dispatch-apply-"));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args, "--kubeconfig", kube.kubeconfigPath],
      { env: { PATH: process.env.PATH, HOME: home }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Plural resource names of the kinds install renders, as the fake stores them. */
const plural: Record<string, string> = {
  Namespace: "namespaces",
  ServiceAccount: "serviceaccounts",
  Role: "roles",
  RoleBinding: "rolebindings",
  ConfigMap: "configmaps",
  Secret: "secrets",
  NetworkPolicy: "networkpolicies",
  Service: "services",
  PodDisruptionBudget: "poddisruptionbudgets",
  StatefulSet: "statefulsets",
  Deployment: "deployments",
};

const rendered = renderInstall(loadInstallConfig({ defaultTag: "0.1.0" })).objects;

interface Stored {
  metadata: {
    resourceVersion: string;
    labels?: Record<string, string>;
    managedFields?: { manager: string; operation: string }[];
  };
  data?: Record<string, string>;
  spec?: { replicas?: number };
}

const stored = (kube: FakeKube, kind: string, name: string, namespace = "dispatch") =>
  kube.get(plural[kind] ?? "", kind === "Namespace" ? "" : namespace, name) as Stored | undefined;

function clients(kube: FakeKube) {
  const kc = new KubeConfig();
  kc.loadFromOptions(kube.kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api) };
}

test("install applies every object with server-side apply as field manager dispatch, and creates the Secrets once", async (t) => {
  const { kube } = t.context;
  const first = await dispatch(kube, ["install"]);
  t.is(first.code, 0, first.stderr);
  t.regex(
    first.stdout,
    /^Installing Dispatch 0\.1\.0 in namespace dispatch \(context "[^"]+", https:\/\/127\.0\.0\.1:\d+\)\n/,
  );
  t.regex(first.stdout, /\nnamespace\/dispatch applied\n/);
  t.regex(first.stdout, /\ndeployment\.apps\/dispatch-control-plane applied\n/);
  t.regex(first.stdout, /\nsecret\/dispatch-control-plane created \(values generated\)\n/);

  for (const object of rendered) {
    const found = stored(kube, object.kind, object.metadata.name);
    t.truthy(found, `${object.kind}/${object.metadata.name} is stored`);
    t.true(
      found?.metadata.managedFields?.some((m) => m.manager === "dispatch" && m.operation === "Apply"),
      `${object.kind}/${object.metadata.name} is owned by the apply of manager dispatch`,
    );
  }
  // Every object was written by one server-side apply of manager dispatch, in the rendered order; the Secrets were created.
  const writes = kube.requests.filter((r) => r.verb !== "get" && r.verb !== "list" && r.verb !== "watch");
  const installWrites = writes.filter((r) => r.fieldManager === "dispatch");
  // (The fake logs a PATCH with Content-Type application/apply-patch+yaml as verb "apply".)
  t.deepEqual(
    installWrites.filter((r) => r.verb === "apply").map((r) => `${r.resource}/${r.name}`),
    rendered.map((o) => `${plural[o.kind]}/${o.metadata.name}`),
  );
  t.deepEqual(
    writes.filter((r) => r.verb !== "apply" && r.verb !== "create").map((r) => r.verb),
    [],
    "no other kind of write",
  );
  t.deepEqual(
    installWrites.filter((r) => r.verb === "create").map((r) => `${r.resource}/${r.name}`),
    ["secrets/", "secrets/"],
  );

  const key = stored(kube, "Secret", "dispatch-control-plane");
  const nats = stored(kube, "Secret", "dispatch-nats");
  t.deepEqual(Object.keys(key?.data ?? {}).sort(), ["admin-token", "secret-key"]);
  t.deepEqual(Object.keys(nats?.data ?? {}).sort(), ["password", "user"]);
  t.is(Buffer.from(key?.data?.["secret-key"] ?? "", "base64").toString().length > 0, true);
  // No generated value is printed.
  for (const value of [...Object.values(key?.data ?? {}), nats?.data?.password ?? ""]) {
    const plain = Buffer.from(value, "base64").toString();
    t.false(first.stdout.includes(plain) || first.stderr.includes(plain));
  }

  // Again: nothing changes (an apply of the same objects keeps their resourceVersion), the Secrets are kept.
  const versions = rendered.map((o) => stored(kube, o.kind, o.metadata.name)?.metadata.resourceVersion);
  const second = await dispatch(kube, ["install"]);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /\nsecret\/dispatch-control-plane exists, kept\n/);
  t.deepEqual(
    rendered.map((o) => stored(kube, o.kind, o.metadata.name)?.metadata.resourceVersion),
    versions,
  );
  t.deepEqual(stored(kube, "Secret", "dispatch-control-plane")?.data, key?.data);
  t.deepEqual(stored(kube, "Secret", "dispatch-nats")?.data, nats?.data);
});

test("install --wait returns once the Deployments and the NATS StatefulSet have rolled out", async (t) => {
  const { kube } = t.context;
  const { kc, apps } = clients(kube);
  // The fake runs no StatefulSet controller: this test plays it, reporting all NATS servers ready.
  const watching = await new Watch(kc).watch(
    "/apis/apps/v1/namespaces/dispatch/statefulsets",
    {},
    (type: string, object: V1StatefulSet) => {
      if (type !== "ADDED" || object.metadata?.name !== "dispatch-nats") return;
      const replicas = object.spec?.replicas ?? 0;
      void apps.patchNamespacedStatefulSetStatus(
        {
          name: "dispatch-nats",
          namespace: "dispatch",
          body: {
            status: {
              observedGeneration: object.metadata?.generation ?? 1,
              replicas,
              readyReplicas: replicas,
              updatedReplicas: replicas,
              currentRevision: "dispatch-nats-1",
              updateRevision: "dispatch-nats-1",
            },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    },
    () => {},
  );
  t.teardown(() => watching.abort());

  const result = await dispatch(kube, ["install", "--wait", "--timeout", "2m"]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /\nstatefulset\.apps\/dispatch-nats rolled out\n/);
  for (const name of [
    "dispatch-control-plane",
    "dispatch-xds-server",
    "dispatch-event-broker",
    "dispatch-envoy",
  ]) {
    t.regex(result.stdout, new RegExp(`\\ndeployment\\.apps/${name} rolled out\\n`));
  }
  t.regex(result.stdout, /\nDispatch is installed in namespace dispatch\.\n/);
  // Rolled out means what the fake says: every Deployment's replicas are available.
  for (const name of ["dispatch-control-plane", "dispatch-envoy"]) {
    const deployment = await apps.readNamespacedDeployment({ name, namespace: "dispatch" });
    t.is(deployment.status?.availableReplicas, 2, name);
  }
});

test("uninstall deletes what install made, keeps the data, and with --delete-data the rest and the namespace", async (t) => {
  const { kube } = t.context;
  const { core, apps } = clients(kube);
  const installed = await dispatch(kube, ["install"]);
  t.is(installed.code, 0, installed.stderr);
  // What the StatefulSet controller would make from the claim template (the fake does not run it).
  const statefulSet = await apps.readNamespacedStatefulSet({ name: "dispatch-nats", namespace: "dispatch" });
  const template = statefulSet.spec?.volumeClaimTemplates?.[0];
  await core.createNamespacedPersistentVolumeClaim({
    namespace: "dispatch",
    body: {
      metadata: { name: "data-dispatch-nats-0", labels: template?.metadata?.labels ?? {} },
      spec: template?.spec ?? {},
    },
  });
  // A function's Deployment, made by the Kubernetes driver, not by install: uninstall leaves it.
  await apps.createNamespacedDeployment({
    namespace: "dispatch",
    body: {
      metadata: {
        name: "fn-hello",
        labels: { "app.kubernetes.io/part-of": "dispatch", "app.kubernetes.io/component": "function" },
      },
      spec: {
        replicas: 0,
        selector: { matchLabels: { fn: "hello" } },
        template: {
          metadata: { labels: { fn: "hello" } },
          spec: { containers: [{ name: "worker", image: "w" }] },
        },
      },
    },
  });

  const dry = await dispatch(kube, ["uninstall", "--dry-run"]);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /^deployment\.apps\/dispatch-control-plane would be deleted \(dry run\)\n/);
  t.truthy(stored(kube, "Deployment", "dispatch-control-plane"), "a dry run deletes nothing");

  const removed = await dispatch(kube, ["uninstall"]);
  t.is(removed.code, 0, removed.stderr);
  t.regex(removed.stdout, /\nsecret\/dispatch-control-plane kept \(data: --delete-data deletes it\)\n/);
  t.regex(removed.stdout, /\npersistentvolumeclaim\/data-dispatch-nats-0 kept/);
  t.regex(removed.stdout, /\nnamespace\/dispatch kept/);
  for (const object of rendered) {
    const left = stored(kube, object.kind, object.metadata.name);
    if (object.kind === "Namespace") t.truthy(left, "the namespace stays");
    else t.is(left, undefined, `${object.kind}/${object.metadata.name} is deleted`);
  }
  t.truthy(stored(kube, "Secret", "dispatch-control-plane"));
  t.truthy(stored(kube, "Secret", "dispatch-nats"));
  t.truthy(kube.get("persistentvolumeclaims", "dispatch", "data-dispatch-nats-0"));
  t.truthy(stored(kube, "Deployment", "fn-hello"), "what install did not make stays");

  const all = await dispatch(kube, ["uninstall", "--delete-data"]);
  t.is(all.code, 0, all.stderr);
  t.regex(all.stdout, /secret\/dispatch-control-plane deleted\n/);
  t.regex(all.stdout, /persistentvolumeclaim\/data-dispatch-nats-0 deleted\n/);
  t.regex(all.stdout, /namespace\/dispatch deleted\n$/);
  t.is(stored(kube, "Namespace", "dispatch"), undefined);
  t.is(stored(kube, "Secret", "dispatch-control-plane"), undefined);

  const again = await dispatch(kube, ["uninstall"]);
  t.is(again.code, 0, again.stderr);
  t.is(again.stdout, "nothing of a Dispatch installation was deleted in namespace dispatch\n");
});

test("a field another manager owns stops install with how to go on; --force-conflicts takes it over", async (t) => {
  const { kube } = t.context;
  const { apps } = clients(kube);
  t.is((await dispatch(kube, ["install"])).code, 0);
  // Someone scales Envoy by hand with their own apply (kubectl apply --server-side --force-conflicts).
  await apps.patchNamespacedDeployment(
    {
      name: "dispatch-envoy",
      namespace: "dispatch",
      body: {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "dispatch-envoy" },
        spec: { replicas: 5 },
      },
      fieldManager: "kubectl",
      force: true,
    },
    setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
  );
  t.is(stored(kube, "Deployment", "dispatch-envoy")?.spec?.replicas, 5);

  const refused = await dispatch(kube, ["install"]);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /^error: cannot apply deployment\.apps\/dispatch-envoy\n/);
  t.regex(refused.stderr, /take them over with --force-conflicts/);
  t.is(stored(kube, "Deployment", "dispatch-envoy")?.spec?.replicas, 5);

  const forced = await dispatch(kube, ["install", "--force-conflicts"]);
  t.is(forced.code, 0, forced.stderr);
  t.is(stored(kube, "Deployment", "dispatch-envoy")?.spec?.replicas, 2);
});

test("an existing Secret is never changed: one that lacks a key stops install, naming the key", async (t) => {
  const { kube } = t.context;
  const { core } = clients(kube);
  await core.createNamespace({ body: { metadata: { name: "dispatch" } } });
  await core.createNamespacedSecret({
    namespace: "dispatch",
    body: { metadata: { name: "dispatch-control-plane" }, stringData: { "secret-key": "mine" } },
  });
  const result = await dispatch(kube, ["install"]);
  t.is(result.code, 1);
  t.regex(result.stderr, /^error: secret\/dispatch-control-plane exists but has no "admin-token"\n/);
  t.regex(result.stderr, /admin-token: an admin API token/);
  t.is(
    stored(kube, "Secret", "dispatch-control-plane")?.data?.["secret-key"],
    Buffer.from("mine").toString("base64"),
  );
  // It stopped before the workloads.
  t.is(stored(kube, "Deployment", "dispatch-control-plane"), undefined);
});
