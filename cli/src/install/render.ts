import type { V1Namespace } from "@kubernetes/client-node";
import type { InstallConfig } from "./config.js";
import { controlPlaneObjects } from "./control-plane-objects.js";
import { envoyObjects } from "./envoy-objects.js";
import { eventBrokerObjects } from "./event-broker-objects.js";
import { type GeneratedSecret, generatedSecrets } from "./generated-secrets.js";
import { installLabels } from "./labels.js";
import { natsObjects } from "./nats-objects.js";
import { networkPolicies } from "./network-policies.js";
import { createRenderContext, type RenderContext } from "./render-context.js";
import type { KubeObject, Typed } from "./workload.js";
import { xdsServerObjects } from "./xds-server-objects.js";

/** What an installation is: the objects to apply, and the Secrets to create if missing. */
export interface InstallPlan {
  /** In the order they are applied (see {@link applyOrder}). */
  objects: KubeObject[];
  /** Referred to by the objects, created only when missing, never rendered with values. */
  secrets: GeneratedSecret[];
  namespace: string;
}

/**
 * The order kinds are applied in: the namespace, then who may do what, then
 * configuration, then the policies (so no pod ever runs unguarded), then
 * Services and budgets, then the workloads. Generated Secrets are created
 * after the ConfigMaps. Uninstall deletes in the reverse order.
 */
export const applyOrder: readonly string[] = [
  "Namespace",
  "ServiceAccount",
  "Role",
  "RoleBinding",
  "ConfigMap",
  "Secret",
  "NetworkPolicy",
  "Service",
  "PodDisruptionBudget",
  "StatefulSet",
  "Deployment",
];

/**
 * Renders an installation: every Kubernetes object of the control plane,
 * the xds-server, the event broker, Envoy and NATS, and their
 * NetworkPolicies. Pure: the same config gives the same objects in the
 * same order, byte for byte once printed.
 *
 * @example
 * const plan = renderInstall(loadInstallConfig({ defaultTag: "0.1.0" }));
 * plan.objects.map((o) => `${o.kind}/${o.metadata.name}`);
 */
export function renderInstall(config: InstallConfig): InstallPlan {
  const ctx = createRenderContext(config);
  const objects = [
    namespace(ctx),
    ...controlPlaneObjects(ctx),
    ...xdsServerObjects(ctx),
    ...eventBrokerObjects(ctx),
    ...envoyObjects(ctx),
    ...natsObjects(ctx),
    ...networkPolicies(ctx),
  ];
  return { objects: sortForApply(objects), secrets: generatedSecrets(), namespace: ctx.namespace };
}

function namespace(ctx: RenderContext): Typed<V1Namespace> {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: ctx.namespace,
      labels: {
        ...installLabels(ctx.version),
        // Every pod here, the functions' included, must meet the restricted Pod Security Standard.
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
      },
    },
  };
}

/** Objects by {@link applyOrder}, then by name. */
export function sortForApply<T extends KubeObject>(objects: readonly T[]): T[] {
  const rank = (kind: string) => {
    const i = applyOrder.indexOf(kind);
    return i < 0 ? applyOrder.length : i;
  };
  return [...objects].sort(
    (a, b) => rank(a.kind) - rank(b.kind) || a.metadata.name.localeCompare(b.metadata.name, "en"),
  );
}
