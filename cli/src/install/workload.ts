import type {
  V1Container,
  V1Deployment,
  V1ObjectMeta,
  V1PodDisruptionBudget,
  V1PodSpec,
  V1Probe,
  V1Service,
  V1ServicePort,
  V1TopologySpreadConstraint,
  V1Volume,
  V1VolumeMount,
} from "@kubernetes/client-node";
import type { Resources } from "./config.js";
import { scratchMounts } from "./entrypoints.js";
import { type Component, componentLabels, components, imageVersion, selectorLabels } from "./labels.js";
import type { RenderContext } from "./render-context.js";
import { containerSecurityContext, podSecurityContext } from "./security.js";

/** A Kubernetes object as install renders and applies it: kind, version and a name are always there. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string };
}

/** A typed object (`Typed<V1Deployment>`) with what every {@link KubeObject} has. */
export type Typed<T> = Omit<T, "apiVersion" | "kind" | "metadata"> & KubeObject;

/** Metadata of a namespaced object of a component. */
export function componentMeta(
  ctx: RenderContext,
  component: Component,
  name = components[component].name,
): V1ObjectMeta & { name: string } {
  return {
    name,
    namespace: ctx.namespace,
    labels: componentLabels(component, componentVersion(ctx, component)),
  };
}

/** The version label of a component: Dispatch's tag, or the NATS or Envoy image's. */
export function componentVersion(ctx: RenderContext, component: Component): string {
  if (component === "nats") return imageVersion(ctx.config.images.nats);
  if (component === "gateway") return imageVersion(ctx.config.images.envoy);
  return ctx.version;
}

/**
 * An HTTP probe. The thresholds are generous on purpose: a loaded node must
 * not turn a slow answer into a restart.
 */
export function httpProbe(
  path: string,
  port: number | string,
  kind: "startup" | "liveness" | "readiness",
): V1Probe {
  const timing = {
    // Up to 5 minutes to start (image layers cached, NATS catching up).
    startup: { periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 60 },
    liveness: { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    readiness: { periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 },
  }[kind];
  return { httpGet: { path, port }, ...timing };
}

/** A container with the restricted security context, the config's pull policy and resources. */
export function container(
  ctx: RenderContext,
  fields: Omit<V1Container, "securityContext" | "imagePullPolicy" | "resources"> & { image: string },
  resources: Resources,
): V1Container {
  return {
    ...fields,
    imagePullPolicy: ctx.config.images.pullPolicy,
    resources: {
      requests: { ...resources.requests },
      limits: { ...resources.limits },
    },
    securityContext: containerSecurityContext(),
  };
}

/** A writable emptyDir at /tmp (the root filesystem is read-only). */
export function tmpVolume(): { volume: V1Volume; mount: V1VolumeMount } {
  return {
    volume: { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
    mount: { name: "tmp", mountPath: scratchMounts.tmp },
  };
}

/** Spreads a component's pods over nodes when it can (never blocking scheduling). */
function spreadOverNodes(component: Component): V1TopologySpreadConstraint[] {
  return [
    {
      maxSkew: 1,
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: "ScheduleAnyway",
      labelSelector: { matchLabels: selectorLabels(component) },
    },
  ];
}

/** A pod spec with what every platform pod has: its user, pull secrets, spread, no service links. */
export function podSpec(
  ctx: RenderContext,
  component: Component,
  fields: Pick<V1PodSpec, "containers" | "volumes" | "terminationGracePeriodSeconds"> & {
    uid: number;
    /** The ServiceAccount whose token is mounted; none: the default account, no token. */
    serviceAccountName?: string;
  },
): V1PodSpec {
  const { uid, serviceAccountName, ...rest } = fields;
  return {
    ...(serviceAccountName
      ? { serviceAccountName, automountServiceAccountToken: true }
      : { automountServiceAccountToken: false }),
    // The API's Service variables would leak every Service's address into the environment.
    enableServiceLinks: false,
    securityContext: podSecurityContext(uid),
    ...(ctx.config.images.pullSecrets.length > 0
      ? { imagePullSecrets: ctx.config.images.pullSecrets.map((name) => ({ name })) }
      : {}),
    topologySpreadConstraints: spreadOverNodes(component),
    ...rest,
  };
}

/**
 * A Deployment of a component, rolled one new pod at a time with none of the
 * old ones taken away first (maxUnavailable 0): an upgrade keeps every replica serving.
 */
export function deployment(
  ctx: RenderContext,
  component: Component,
  replicas: number,
  spec: V1PodSpec,
  podAnnotations: Record<string, string> = {},
): Typed<V1Deployment> {
  const meta = componentMeta(ctx, component);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta,
    spec: {
      replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: selectorLabels(component) },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: { ...(meta.labels ?? {}) },
          ...(Object.keys(podAnnotations).length > 0 ? { annotations: podAnnotations } : {}),
        },
        spec,
      },
    },
  };
}

/** A Service in front of a component's pods. */
export function service(
  ctx: RenderContext,
  component: Component,
  options: {
    name?: string;
    type?: "ClusterIP" | "NodePort" | "LoadBalancer";
    headless?: boolean;
    /** Headless NATS: servers find each other before they are ready. */
    publishNotReadyAddresses?: boolean;
    ports: V1ServicePort[];
    annotations?: Record<string, string>;
  },
): Typed<V1Service> {
  const metadata = componentMeta(ctx, component, options.name);
  if (options.annotations && Object.keys(options.annotations).length > 0) {
    metadata.annotations = options.annotations;
  }
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata,
    spec: {
      type: options.headless ? "ClusterIP" : (options.type ?? "ClusterIP"),
      ...(options.headless ? { clusterIP: "None" } : {}),
      ...(options.publishNotReadyAddresses ? { publishNotReadyAddresses: true } : {}),
      selector: selectorLabels(component),
      ports: options.ports,
    },
  };
}

/** At most one pod of a component voluntarily down at a time (drains, upgrades of nodes). */
export function podDisruptionBudget(ctx: RenderContext, component: Component): Typed<V1PodDisruptionBudget> {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: componentMeta(ctx, component),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(component) },
    },
  };
}
