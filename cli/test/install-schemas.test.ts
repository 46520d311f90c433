import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import test from "ava";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { parseAllDocuments } from "yaml";
import { generatedSecrets, secretWithValues } from "../src/install/generated-secrets.js";
import { loadInstallConfig } from "../src/install/load-config.js";
import { renderInstall } from "../src/install/render.js";
import { createRenderContext } from "../src/install/render-context.js";

// Every object install renders, checked against the Kubernetes OpenAPI schemas
// (kubernetes-models: one compiled validator per kind), and against the rules the
// API server adds on top that those schemas do not carry (names, labels, port names).

/** A model class of kubernetes-models: built from a plain object, `validate()` throws what is wrong. */
type ModelClass = new (data: never) => { validate(): void };

const models: Record<string, ModelClass> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
};

interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const golden = (name: string) => fileURLToPath(new URL(`../../testdata/install/${name}`, import.meta.url));

/** The installations checked: the two golden files as printed, and rendered variants. */
async function installations(): Promise<{ name: string; objects: Rendered[] }[]> {
  const printed = await Promise.all(
    ["default.yaml", "custom.yaml"].map(async (name) => ({
      name,
      objects: parseAllDocuments(await readFile(golden(name), "utf8")).map((d) => d.toJS() as Rendered),
    })),
  );
  const rendered = [
    { name: "one NATS server", text: "nats:\n  replicas: 1\n" },
    {
      name: "no internet for functions, hosts",
      text: "functions: {internetEgress: false}\nhosts: [a.example.com]\n",
    },
    {
      name: "a pull secret and storage class",
      text: "images: {pullSecrets: [a, b]}\nnats: {storage: {className: ssd}}\n",
    },
  ].map(({ name, text }) => ({
    name,
    objects: renderInstall(loadInstallConfig({ text, defaultTag: "0.1.0" })).objects as unknown as Rendered[],
  }));
  return [...printed, ...rendered];
}

test("every rendered object validates against the Kubernetes OpenAPI schema of its kind", async (t) => {
  let checked = 0;
  for (const { name, objects } of await installations()) {
    t.true(objects.length >= 20, `${name}: ${objects.length} objects`);
    for (const object of objects) {
      const Model = models[`${object.apiVersion}/${object.kind}`];
      if (!Model) {
        t.fail(`${name}: no schema for ${object.apiVersion} ${object.kind}`);
        continue;
      }
      t.notThrows(
        () => new Model(object as never).validate(),
        `${name}: ${object.kind}/${object.metadata.name}`,
      );
      checked++;
    }
  }
  t.log(`${checked} objects validated`);
});

test("the schema check catches a broken object (it is not vacuous)", (t) => {
  const plan = renderInstall(loadInstallConfig({ defaultTag: "0.1.0" }));
  const deployment = structuredClone(plan.objects.find((o) => o.kind === "Deployment")) as unknown as {
    spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } };
  };
  const port = deployment.spec.template.spec.containers[0]?.ports[0];
  if (port) port.containerPort = "eighty";
  t.throws(() => new Deployment(deployment as never).validate(), {
    message: /containerPort must be integer/,
  });
});

test("a generated Secret, as install creates it, validates too", (t) => {
  const ctx = createRenderContext(loadInstallConfig({ defaultTag: "0.1.0" }));
  for (const secret of generatedSecrets()) {
    const object = secretWithValues(ctx, secret, (size) => new Uint8Array(size).fill(7));
    t.notThrows(() => new Secret(object as never).validate(), secret.name);
  }
});

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const serviceName = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const labelKey =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const portName = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface Container {
  name: string;
  ports?: { name?: string }[];
  startupProbe?: { httpGet?: { port: unknown } };
  livenessProbe?: { httpGet?: { port: unknown } };
  readinessProbe?: { httpGet?: { port: unknown } };
}

function podTemplateOf(
  object: Rendered,
): { metadata: { labels: Record<string, string> }; spec: { containers: Container[] } } | undefined {
  const spec = object.spec as { template?: never } | undefined;
  return spec?.template;
}

test("names, labels and port names follow the API server's rules, and probes name ports that exist", async (t) => {
  for (const { name, objects } of await installations()) {
    for (const object of objects) {
      const id = `${name}: ${object.kind}/${object.metadata.name}`;
      t.regex(object.metadata.name, object.kind === "Service" ? serviceName : dnsLabel, id);
      t.true(object.metadata.name.length <= 63, id);
      for (const [key, value] of Object.entries(object.metadata.labels ?? {})) {
        t.regex(key, labelKey, `${id}: label ${key}`);
        t.true(value.length <= 63 && labelValue.test(value), `${id}: label ${key}=${value}`);
      }
      for (const container of podTemplateOf(object)?.spec.containers ?? []) {
        const names = (container.ports ?? []).map((p) => p.name ?? "");
        for (const port of names) t.true(port.length <= 15 && portName.test(port), `${id}: port ${port}`);
        for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
          const port = probe?.httpGet?.port;
          if (typeof port === "string") t.true(names.includes(port), `${id}: probe port ${port}`);
        }
      }
    }
  }
});

test("every pod is restricted: non-root, read-only root, no capabilities, RuntimeDefault seccomp, requests and limits, probes", async (t) => {
  for (const { name, objects } of await installations()) {
    const workloads = objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
    t.is(workloads.length, 5, name);
    for (const workload of workloads) {
      const id = `${name}: ${workload.kind}/${workload.metadata.name}`;
      const spec = (workload.spec as { template: { spec: unknown } }).template.spec as {
        securityContext: { runAsNonRoot: boolean; runAsUser: number; seccompProfile: { type: string } };
        containers: (Container & {
          securityContext: Record<string, unknown>;
          resources: { requests: Record<string, string>; limits: Record<string, string> };
        })[];
      };
      t.like(spec.securityContext, { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } }, id);
      t.true(spec.securityContext.runAsUser > 0, id);
      for (const container of spec.containers) {
        t.like(
          container.securityContext,
          {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ["ALL"] },
          },
          id,
        );
        t.truthy(container.resources.requests.cpu && container.resources.requests.memory, id);
        t.truthy(container.resources.limits.cpu && container.resources.limits.memory, id);
        t.truthy(container.livenessProbe && container.readinessProbe && container.startupProbe, id);
      }
    }
  }
});

test("the control plane's Role is namespaced, names each resource and verb, and its binding names only its account", async (t) => {
  const objects = renderInstall(loadInstallConfig({ defaultTag: "0.1.0" })).objects as unknown as Rendered[];
  t.false(objects.some((o) => o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding"));
  const role = objects.find((o) => o.kind === "Role") as unknown as {
    rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  };
  const grants = role.rules.flatMap((r) =>
    r.resources.map((res) => `${r.apiGroups.join()}/${res}: ${r.verbs.join(",")}`),
  );
  t.false(
    grants.some((g) => g.includes("*")),
    "no wildcard",
  );
  t.deepEqual(grants.sort(), [
    "/pods: get,list,watch,patch,delete",
    "/secrets: get,list,watch,create,update,patch,delete",
    "/services: get,list,watch,create,update,patch,delete",
    "apps/deployments/scale: get,update,patch",
    "apps/deployments: get,list,watch,create,update,patch,delete",
    "coordination.k8s.io/leases: get,create,update,patch",
    "discovery.k8s.io/endpointslices: get,list,watch",
  ]);
  const binding = objects.find((o) => o.kind === "RoleBinding") as unknown as {
    subjects: unknown[];
    roleRef: unknown;
  };
  t.deepEqual(binding.subjects, [
    { kind: "ServiceAccount", name: "dispatch-control-plane", namespace: "dispatch" },
  ]);
  // Only the control plane's pods get an API token; the functions' account has none.
  const accounts = objects.filter((o) => o.kind === "ServiceAccount") as unknown as {
    metadata: { name: string };
    automountServiceAccountToken: boolean;
  }[];
  t.deepEqual(
    accounts.map((a) => [a.metadata.name, a.automountServiceAccountToken]),
    [
      ["dispatch-control-plane", true],
      ["dispatch-function", false],
    ],
  );
  const tokens = objects
    .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
    .filter(
      (o) =>
        (o.spec as { template: { spec: { automountServiceAccountToken: boolean } } }).template.spec
          .automountServiceAccountToken,
    )
    .map((o) => o.metadata.name);
  t.deepEqual(tokens, ["dispatch-control-plane"]);
});

test("NetworkPolicies: functions take calls from Envoy and the control plane only and reach no NATS; NATS takes only platform clients", (t) => {
  const objects = renderInstall(
    loadInstallConfig({ text: "functions: {internetEgress: false}\n", defaultTag: "0.1.0" }),
  ).objects as unknown as Rendered[];
  const policy = (name: string) =>
    objects.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === name)?.spec as {
      podSelector: { matchLabels: Record<string, string> };
      policyTypes: string[];
      ingress?: {
        from?: { podSelector: { matchLabels: Record<string, string> } }[];
        ports?: { port: number }[];
      }[];
      egress?: {
        to?: { podSelector?: { matchLabels: Record<string, string> }; ipBlock?: unknown }[];
        ports?: { port: number }[];
      }[];
    };
  const app = (peer: { podSelector?: { matchLabels: Record<string, string> } }) =>
    peer.podSelector?.matchLabels["app.kubernetes.io/name"];

  const functions = policy("dispatch-functions");
  t.deepEqual(functions.podSelector.matchLabels, {
    "app.kubernetes.io/part-of": "dispatch",
    "app.kubernetes.io/component": "function",
  });
  t.deepEqual(functions.policyTypes, ["Ingress", "Egress"]);
  t.deepEqual(
    functions.ingress?.flatMap((r) => (r.from ?? []).map(app)),
    ["envoy", "dispatch-control-plane"],
  );
  // Egress: DNS (any destination, port 53) and the control plane's API port, nothing else without internet.
  const egress = functions.egress ?? [];
  t.is(egress.length, 2);
  t.deepEqual(
    egress[0]?.ports?.map((p) => p.port),
    [53, 53],
  );
  t.deepEqual(egress[1]?.to?.map(app), ["dispatch-control-plane"]);
  t.deepEqual(
    egress[1]?.ports?.map((p) => p.port),
    [8080],
  );
  t.false(JSON.stringify(egress).includes('"nats"'));

  const nats = policy("dispatch-nats");
  t.deepEqual(
    nats.ingress?.map((r) => [(r.from ?? []).map(app), r.ports?.map((p) => p.port)]),
    [
      [["dispatch-control-plane", "dispatch-event-broker"], [4222]],
      [["nats"], [6222]],
    ],
  );
  // The activator and ADS are Envoy's alone.
  const controlPlane = policy("dispatch-control-plane");
  t.deepEqual(controlPlane.ingress?.[1], {
    from: [
      {
        podSelector: {
          matchLabels: { "app.kubernetes.io/instance": "dispatch", "app.kubernetes.io/name": "envoy" },
        },
      },
    ],
    ports: [{ protocol: "TCP", port: 8081 }],
  });
  t.deepEqual(
    policy("dispatch-xds-server").ingress?.map((r) => (r.from ?? []).map(app)),
    [["envoy"]],
  );

  // With internet egress, the private ranges stay closed.
  const open = renderInstall(loadInstallConfig({ defaultTag: "0.1.0" })).objects as unknown as Rendered[];
  const openEgress = JSON.stringify(open.find((o) => o.metadata.name === "dispatch-functions")?.spec);
  t.regex(
    openEgress,
    /"cidr":"0\.0\.0\.0\/0","except":\["10\.0\.0\.0\/8","172\.16\.0\.0\/12","192\.168\.0\.0\/16","169\.254\.0\.0\/16"/,
  );
});
