import type { V1PolicyRule, V1Role, V1RoleBinding, V1ServiceAccount } from "@kubernetes/client-node";
import {
  controlPlaneEnv,
  controlPlaneSecretFiles,
  ports,
  scratchMounts,
  secretMounts,
} from "./entrypoints.js";
import { CONTROL_PLANE_SECRET, components, FUNCTION_SERVICE_ACCOUNT, installLabels } from "./labels.js";
import type { RenderContext } from "./render-context.js";
import { DISPATCH_UID } from "./security.js";
import {
  componentMeta,
  container,
  deployment,
  httpProbe,
  type KubeObject,
  podDisruptionBudget,
  podSpec,
  service,
  type Typed,
  tmpVolume,
} from "./workload.js";

const name = components["control-plane"].name;

/**
 * What the control plane may do in its namespace, and nothing more: run
 * function revisions as Deployments scaled through `/scale`, read their pods
 * (to explain failures) and EndpointSlices (ready instances), keep a Service
 * and a credential Secret per revision, and elect a leader with a Lease.
 */
export const controlPlaneRules: readonly V1PolicyRule[] = [
  {
    apiGroups: ["apps"],
    resources: ["deployments"],
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
  },
  { apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["get", "update", "patch"] },
  // Patch: a pod-deletion-cost on the idle pod a scale down should remove; delete: a wedged pod.
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "patch", "delete"] },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
  {
    apiGroups: [""],
    resources: ["services"],
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
  },
  {
    // The per-revision instance credentials. RBAC cannot name Secrets not yet
    // made, so this covers the namespace's; the control plane's own key is
    // mounted into it anyway.
    apiGroups: [""],
    resources: ["secrets"],
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"],
  },
  // The leader election renews its Lease with a merge patch conditioned on the resourceVersion.
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update", "patch"] },
];

/** The control plane: its account and permissions, Deployment, Service, disruption budget; the functions' account. */
export function controlPlaneObjects(ctx: RenderContext): KubeObject[] {
  const { config } = ctx;
  const meta = () => componentMeta(ctx, "control-plane");
  const serviceAccount: Typed<V1ServiceAccount> = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(),
    automountServiceAccountToken: true,
  };
  const functionAccount: Typed<V1ServiceAccount> = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name: FUNCTION_SERVICE_ACCOUNT,
      namespace: ctx.namespace,
      labels: installLabels(ctx.version),
    },
    // Function code is untrusted: no API token in its pods.
    automountServiceAccountToken: false,
  };
  const role: Typed<V1Role> = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: meta(),
    rules: controlPlaneRules.map((rule) => ({ ...rule })),
  };
  const binding: Typed<V1RoleBinding> = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: meta(),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: [{ kind: "ServiceAccount", name, namespace: ctx.namespace }],
  };

  const tmp = tmpVolume();
  const spec = podSpec(ctx, "control-plane", {
    uid: DISPATCH_UID,
    serviceAccountName: name,
    // DISPATCH_SHUTDOWN_GRACE (20 s) for calls in flight, and time to close.
    terminationGracePeriodSeconds: 30,
    containers: [
      container(
        ctx,
        {
          name: "control-plane",
          image: ctx.images.controlPlane,
          env: controlPlaneEnv(ctx),
          ports: [
            { name: "api", containerPort: ports.api, protocol: "TCP" },
            { name: "activator", containerPort: ports.activator, protocol: "TCP" },
          ],
          startupProbe: httpProbe("/healthz", "api", "startup"),
          livenessProbe: httpProbe("/healthz", "api", "liveness"),
          readinessProbe: httpProbe("/readyz", "api", "readiness"),
          volumeMounts: [
            { name: "secrets", mountPath: secretMounts.controlPlane, readOnly: true },
            { name: "work", mountPath: scratchMounts.controlPlaneWork },
            tmp.mount,
          ],
        },
        config.controlPlane.resources,
      ),
    ],
    volumes: [
      {
        name: "secrets",
        secret: {
          secretName: CONTROL_PLANE_SECRET,
          // Readable by the pod's group (fsGroup), by no one else.
          defaultMode: 0o440,
          items: controlPlaneSecretFiles.map((key) => ({ key, path: key })),
        },
      },
      { name: "work", emptyDir: { sizeLimit: "2Gi" } },
      tmp.volume,
    ],
  });

  return [
    serviceAccount,
    functionAccount,
    role,
    binding,
    deployment(ctx, "control-plane", config.controlPlane.replicas, spec),
    service(ctx, "control-plane", {
      type: config.controlPlane.serviceType,
      ports: [
        { name: "api", port: ports.api, targetPort: "api", protocol: "TCP", appProtocol: "http" },
        {
          name: "activator",
          port: ports.activator,
          targetPort: "activator",
          protocol: "TCP",
          appProtocol: "http",
        },
      ],
    }),
    podDisruptionBudget(ctx, "control-plane"),
  ];
}
