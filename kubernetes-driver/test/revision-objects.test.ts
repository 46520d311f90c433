import { fileURLToPath } from "node:url";
import type { RevisionSpec } from "@dispatch/server-kit";
import { type FakeKube, matchGolden, startFakeKube } from "@dispatch/testkit";
import test, { type ExecutionContext } from "ava";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { connectKube, KubeApiError } from "../src/index.js";
import {
  FIELD_MANAGER,
  labelKeys,
  memoryBytes,
  type RevisionObjectSettings,
  revisionDeployment,
  revisionLabels,
  revisionName,
  revisionSecret,
  revisionService,
  TOKEN_KEY,
} from "../src/resources/revision-objects.js";

// The objects the driver makes for a revision (pure functions): pinned by golden
// files under kubernetes-driver/testdata/revision-objects/ (UPDATE_GOLDEN=1
// rewrites them), checked against the Kubernetes OpenAPI schemas
// (kubernetes-models) and against the API server's own rules on names, labels
// and data keys (the fake API server's validation: a broken object is a 422).

const settings: RevisionObjectSettings = {
  namespace: "dispatch",
  images: {
    nodejs: "ghcr.io/dispatch/runtime-nodejs:0.1.0",
    python3: "ghcr.io/dispatch/runtime-python3:0.1.0",
  },
  controlPlaneUrl: "http://dispatch-control-plane.dispatch.svc:8080",
};

/** The Deployment's uid the Service and Secret name as their owner (as the API server would have made it). */
const ownerUid = "5b0e7f4c-9a51-4d37-8f0e-2f3c1d7a9b60";

/** A revision with every field set; `more` overrides them. */
function revision(more: Partial<RevisionSpec> = {}): RevisionSpec {
  return {
    org: "acme",
    name: "hello",
    uid: "3f1d2c4b-8e7a-4f60-9b1d-0c2e5a7f9d31",
    generation: 3n,
    runtime: "nodejs",
    bundle: {
      digest: "sha256:9c1185a5c5e9fc54612808977ee8f548b2258d31b6e0d3e8c7d4f3a2b1c0d9e8",
      format: "file",
      filename: "hello.js",
    },
    handler: "hello.js",
    env: {},
    timeoutMs: 30_000,
    memory: "",
    cpu: "",
    ...more,
  };
}

interface Case {
  name: string;
  spec: RevisionSpec;
  token: string;
  settings: RevisionObjectSettings;
}

/** The cases pinned by golden files: both runtimes, with and without memory and environment, odd names. */
const cases: Case[] = [
  {
    name: "nodejs-memory-env",
    spec: revision({
      memory: "128Mi",
      env: { GREETING: "value-of-greeting-7Qz", API_KEY: "value-of-api-key-k9W" },
    }),
    token: "token-of-hello-Xv3pL0",
    settings,
  },
  {
    name: "python3-default-memory",
    spec: revision({
      org: "data-team",
      name: "resize-images",
      uid: "a6c0e2d8-1b3f-4e5a-9c7d-2f4b6d8e0a13",
      generation: 1n,
      runtime: "python3",
      bundle: {
        digest: "sha256:0d4e1f3a5b7c9e2d4f6a8b0c1e3d5f7a9b2c4e6d8f0a1b3c5d7e9f2a4b6c8d0e",
        format: "tar.gz",
        filename: "",
      },
      handler: "main.handle",
      timeoutMs: 120_000,
    }),
    token: "token-of-resize-Hq7sT2",
    settings,
  },
  {
    name: "long-names",
    spec: revision({
      org: "the-very-long-organisation-name-of-a-company-that-likes-long-names",
      name: "a-function-whose-name-is-as-long-as-a-function-name-may-be-0123",
      uid: "c2e4a6b8-0d1f-4a3c-8e5b-7d9f1a3c5e70",
      generation: 9_007_199_254_740_993n,
      memory: "1Gi",
      cpu: "250m",
      env: { LOG_LEVEL: "value-of-log-level-Tr5" },
    }),
    token: "token-of-long-Bn4wQ8",
    settings: {
      ...settings,
      serviceAccount: "dispatch-functions",
      imagePullPolicy: "Always",
      drainMs: 5_000,
    },
  },
  {
    name: "unusual-characters",
    spec: revision({
      org: "Acme Corp",
      name: "Héllo_World.v2!",
      uid: "UID/with spaces+slashes",
      generation: 12n,
      runtime: "python3",
      bundle: {
        digest: "sha256:7e9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a",
        format: "file",
        filename: "héllo.py",
      },
      handler: "héllo.handle",
      memory: "256Mi",
      env: { lower_case: "value-of-lower-case-Pm2", _LEADING: "value-of-leading-Lc8" },
    }),
    token: "token-of-unusual-Wd6yR1",
    settings,
  },
];

type Json = Record<string, unknown>;

interface Objects {
  secret: Json;
  deployment: Json;
  service: Json;
}

function objectsOf(c: Case): Objects {
  return {
    secret: revisionSecret(c.spec, c.token, c.settings, { uid: ownerUid }),
    deployment: revisionDeployment(c.spec, c.settings),
    service: revisionService(c.spec, c.settings, { uid: ownerUid }),
  };
}

const goldenPath = (name: string) =>
  fileURLToPath(new URL(`../../testdata/revision-objects/${name}.json`, import.meta.url));

for (const c of cases) {
  test(`revision objects: ${c.name}: the Secret, Deployment and Service are the golden ones`, async (t) => {
    const { secret, deployment, service } = objectsOf(c);
    const text = `${JSON.stringify([secret, deployment, service], null, 2)}\n`;
    await matchGolden(t, goldenPath(c.name), text);
  });
}

test("revision objects: every object validates against the Kubernetes OpenAPI schema of its kind", (t) => {
  for (const c of cases) {
    const { secret, deployment, service } = objectsOf(c);
    t.notThrows(() => new Secret(secret as never).validate(), `${c.name}: Secret`);
    t.notThrows(() => new Deployment(deployment as never).validate(), `${c.name}: Deployment`);
    t.notThrows(() => new Service(service as never).validate(), `${c.name}: Service`);
    // Without an owner (as the driver applies the Secret first) too.
    const unowned = revisionSecret(c.spec, c.token, c.settings);
    t.notThrows(() => new Secret(unowned as never).validate(), `${c.name}: Secret without owner`);
  }
});

test("revision objects: the schema check catches a broken object (it is not vacuous)", (t) => {
  const deployment = revisionDeployment(revision(), settings) as {
    spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
  };
  const port = deployment.spec.template.spec.containers[0]?.ports[0];
  if (!port) throw new Error("the Deployment declares no port");
  port.containerPort = "eighty";
  t.throws(() => new Deployment(deployment as never).validate(), {
    message: /containerPort must be integer/,
  });
});

async function startKube(t: ExecutionContext): Promise<FakeKube> {
  const kube = await startFakeKube({ namespaces: [settings.namespace] });
  t.teardown(() => kube.close());
  return kube;
}

test("revision objects: the API server takes every object as the driver applies it (no 422 on names, labels, keys)", async (t) => {
  const kube = await startKube(t);
  const api = await connectKube({ kubeconfig: kube.kubeconfigPath, env: {} });
  const apply = (path: string, body: unknown) =>
    api.request<{ metadata?: { uid?: string } }>({
      method: "PATCH",
      path,
      query: { fieldManager: FIELD_MANAGER, force: true },
      body,
      contentType: "application/apply-patch+yaml",
    });
  const base = `/api/v1/namespaces/${settings.namespace}`;
  for (const c of cases) {
    const name = revisionName(c.spec);
    const refused = (kind: string) => (err: unknown) => {
      const detail = err instanceof KubeApiError ? JSON.stringify(err.details) : "";
      t.fail(`${c.name}: the API server refused the ${kind}: ${(err as Error).message} ${detail}`);
      return undefined;
    };
    // The driver's order: the Secret first, the Deployment, then the owned Service and Secret.
    await apply(`${base}/secrets/${name}`, revisionSecret(c.spec, c.token, c.settings)).catch(
      refused("Secret"),
    );
    const deployment = await apply(
      `/apis/apps/v1/namespaces/${settings.namespace}/deployments/${name}`,
      revisionDeployment(c.spec, c.settings),
    ).catch(refused("Deployment"));
    const owner = { uid: String(deployment?.metadata?.uid ?? "") };
    await apply(`${base}/services/${name}`, revisionService(c.spec, c.settings, owner)).catch(
      refused("Service"),
    );
    await apply(`${base}/secrets/${name}`, revisionSecret(c.spec, c.token, c.settings, owner)).catch(
      refused("Secret with its owner"),
    );
    t.truthy(kube.get("deployments", settings.namespace, name), `${c.name}: Deployment stored`);
    t.truthy(kube.get("services", settings.namespace, name), `${c.name}: Service stored`);
    t.truthy(kube.get("secrets", settings.namespace, name), `${c.name}: Secret stored`);
  }
  const refusals = kube.requests.filter((r) => r.code >= 400);
  t.deepEqual(refusals, [], "no request was refused");
});

const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

test("revisionName: a DNS label of at most 63 characters, whatever the names", (t) => {
  const specs = [
    ...cases.map((c) => c.spec),
    revision({ org: "!!!", name: "???" }),
    revision({ org: "", name: "" }),
    revision({ org: "a".repeat(300), name: "b".repeat(300), generation: 18_446_744_073_709_551_615n }),
    revision({ org: "x", name: `y${"-".repeat(80)}z` }),
    revision({ org: "日本", name: "関数" }),
    revision({ org: "UPPER", name: "Case--Mixed__Name" }),
  ];
  for (const spec of specs) {
    const name = revisionName(spec);
    t.true(name.length <= 63, `${name}: ${name.length} characters`);
    t.regex(name, dns1035Label, `${JSON.stringify(spec.org)}/${JSON.stringify(spec.name)}`);
  }
});

test("revisionName: readable, stable for the same revision, different for another uid, generation, org or name", (t) => {
  const base = revision();
  t.regex(revisionName(base), /^fn-acme-hello-3-[0-9a-f]{8}$/);
  t.is(revisionName(base), revisionName(revision()), "stable");
  t.is(revisionName(base), revisionName({ ...base }), "only org, name, uid and generation count");
  t.is(
    revisionName(base),
    revisionName(revision({ runtime: "python3", memory: "1Gi", cpu: "2", env: { A: "b" } })),
    "the spec's other fields do not change the name",
  );
  const others = [
    revision({ uid: "another-uid" }),
    revision({ generation: 4n }),
    revision({ org: "acme2" }),
    revision({ name: "hello2" }),
    // The same readable part ("fn-acme-x-hello-3-…"), told apart by the hash.
    revision({ org: "acme-x", name: "hello" }),
    revision({ org: "acme", name: "x-hello" }),
  ];
  const names = new Set([revisionName(base), ...others.map(revisionName)]);
  t.is(names.size, others.length + 1, [...names].join(", "));
  t.not(revisionName(others[4] as RevisionSpec), revisionName(others[5] as RevisionSpec));
});

/** The environment variables of the Deployment's worker container. */
function containerEnv(deployment: Json): { name: string; value?: string; valueFrom?: unknown }[] {
  const spec = deployment.spec as {
    template: { spec: { containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] } };
  };
  return spec.template.spec.containers[0]?.env ?? [];
}

test("revision objects: no environment value nor the credential is in the Deployment, only references to the Secret", (t) => {
  for (const c of cases) {
    const { secret, deployment } = objectsOf(c);
    const text = JSON.stringify(deployment);
    const secrets = [c.token, ...Object.values(c.spec.env)];
    for (const value of secrets) {
      t.false(text.includes(value), `${c.name}: ${value} in the Deployment`);
      t.false(text.includes(Buffer.from(value).toString("base64")), `${c.name}: ${value} (base64)`);
    }
    const data = secret.data as Record<string, string>;
    const decoded = (key: string) => Buffer.from(data[key] ?? "", "base64").toString("utf8");
    t.is(decoded(TOKEN_KEY), c.token, `${c.name}: the Secret holds the credential`);
    const env = containerEnv(deployment);
    const fromSecret = env.filter((e) => e.valueFrom !== undefined);
    t.deepEqual(
      fromSecret.map((e) => e.name).sort(),
      ["DISPATCH_WORKER_TOKEN", ...Object.keys(c.spec.env)].sort(),
      `${c.name}: the credential and every variable come from the Secret`,
    );
    for (const variable of fromSecret) {
      const ref = (variable.valueFrom as { secretKeyRef: { name: string; key: string } }).secretKeyRef;
      t.is(ref.name, revisionName(c.spec), `${c.name}: ${variable.name} names the revision's Secret`);
      t.true(ref.key in data, `${c.name}: ${variable.name}'s key ${ref.key} is in the Secret`);
      const expected = variable.name === "DISPATCH_WORKER_TOKEN" ? c.token : c.spec.env[variable.name];
      t.is(
        decoded(ref.key),
        expected ?? "(not in the spec)",
        `${c.name}: ${variable.name}'s value in the Secret`,
      );
    }
  }
});

test("revision objects: the selector is the revision label alone, and matches the pod template's labels", (t) => {
  for (const c of cases) {
    const { deployment, service } = objectsOf(c);
    const name = revisionName(c.spec);
    const spec = deployment.spec as {
      selector: { matchLabels: Record<string, string> };
      template: { metadata: { labels: Record<string, string> } };
    };
    t.deepEqual(spec.selector.matchLabels, { [labelKeys.revision]: name }, c.name);
    t.is(spec.template.metadata.labels[labelKeys.revision], name, c.name);
    t.deepEqual((service.spec as { selector: unknown }).selector, { [labelKeys.revision]: name }, c.name);
    t.false("replicas" in spec, `${c.name}: replicas are left to /scale`);
  }
});

test("revision objects: label values that Kubernetes does not allow are hashed; annotations keep the names as given", (t) => {
  const c = cases.find((x) => x.name === "unusual-characters") as Case;
  const labels = revisionLabels(c.spec);
  t.regex(labels[labelKeys.function] ?? "", /^h-[0-9a-f]{40}$/, "Héllo_World.v2! is not a label value");
  t.regex(labels[labelKeys.uid] ?? "", /^h-[0-9a-f]{40}$/);
  t.regex(labels[labelKeys.org] ?? "", /^h-[0-9a-f]{40}$/, "Acme Corp has a space");
  t.is(labels[labelKeys.generation], "12");
  const long = cases.find((x) => x.name === "long-names") as Case;
  t.regex(revisionLabels(long.spec)[labelKeys.org] ?? "", /^h-/, "longer than 63 characters");
  t.is(
    revisionLabels(revision({ name: "ok_name.v2" }))[labelKeys.function],
    "ok_name.v2",
    "kept when allowed",
  );
  const annotations = (objectsOf(c).deployment.metadata as { annotations: Record<string, string> })
    .annotations;
  t.is(annotations["dispatch.dev/function"], "Héllo_World.v2!");
  t.is(annotations["dispatch.dev/org"], "Acme Corp");
  t.is(annotations["dispatch.dev/function-uid"], "UID/with spaces+slashes");
});

test("revision objects: the memory limit is the container's request and limit, its /tmp's size and the worker's DISPATCH_MEMORY_LIMIT; CPU only requested", (t) => {
  const env = (spec: RevisionSpec) =>
    containerEnv(revisionDeployment(spec, settings)).find((e) => e.name === "DISPATCH_MEMORY_LIMIT")?.value;
  t.is(env(revision({ memory: "128Mi" })), String(128 * 1024 * 1024));
  t.is(env(revision({ memory: "" })), "0", "no limit");
  const resources = (spec: RevisionSpec) =>
    (
      revisionDeployment(spec, settings).spec as {
        template: { spec: { containers: { resources: unknown }[] } };
      }
    ).template.spec.containers[0]?.resources;
  t.deepEqual(resources(revision({ memory: "1Gi" })), {
    requests: { cpu: "100m", memory: "1Gi" },
    limits: { memory: "1Gi" },
  });
  t.deepEqual(resources(revision({ memory: "" })), { requests: { cpu: "100m", memory: "128Mi" } });
  t.deepEqual(
    resources(revision({ memory: "256Mi", cpu: "1500m" })),
    { requests: { cpu: "1500m", memory: "256Mi" }, limits: { memory: "256Mi" } },
    "CPU is requested, never limited",
  );
  const tmp = (spec: RevisionSpec) =>
    (
      revisionDeployment(spec, settings).spec as {
        template: { spec: { volumes: { name: string; emptyDir: unknown }[] } };
      }
    ).template.spec.volumes.find((v) => v.name === "tmp")?.emptyDir;
  t.deepEqual(
    tmp(revision({ memory: "1Gi" })),
    { medium: "Memory", sizeLimit: "1Gi" },
    "/tmp counts against it",
  );
  t.deepEqual(tmp(revision({ memory: "" })), { medium: "Memory" });
  t.is(memoryBytes("128Mi"), 134_217_728);
  t.is(memoryBytes("1G"), 1e9);
  t.is(memoryBytes(" 512Ki "), 524_288);
  t.is(memoryBytes("1.5Gi"), 1.5 * 1024 ** 3);
  t.is(memoryBytes("1000"), 1000);
  t.is(memoryBytes("lots"), undefined);
  t.is(memoryBytes("128MiB"), undefined);
});

test("revision objects: a runtime with no image configured is an error naming the variable to set", (t) => {
  t.throws(() => revisionDeployment(revision({ runtime: "ruby" }), settings), {
    message: /runtime "ruby".*DISPATCH_RUNTIME_IMAGE_RUBY/,
  });
  const nodeOnly = { ...settings, images: { nodejs: settings.images.nodejs as string } };
  t.throws(() => revisionDeployment(revision({ runtime: "python3" }), nodeOnly), {
    message: /DISPATCH_RUNTIME_IMAGE_PYTHON3/,
  });
});
