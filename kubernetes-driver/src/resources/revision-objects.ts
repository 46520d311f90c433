import { createHash } from "node:crypto";
import { parseQuantity } from "@dispatch/proto";
import type { RevisionSpec } from "@dispatch/server-kit";

/** What every object the driver makes for a revision shares: where, which images, who owns it. */
export interface RevisionObjectSettings {
  namespace: string;
  /** The runtime image of each runtime (`nodejs`, `python3`). */
  images: Readonly<Record<string, string>>;
  /** `IfNotPresent` by default. */
  imagePullPolicy?: string;
  /** The ServiceAccount function pods run as (no API token is mounted either way). */
  serviceAccount?: string;
  /** The control plane's URL as pods reach it: where they fetch their bundle. */
  controlPlaneUrl: string;
  /** How long a pod's calls in flight may take to finish when it is stopped; default 30 s. */
  drainMs?: number;
}

/** The field manager of every write the driver makes (server-side apply, `/scale`). */
export const FIELD_MANAGER = "dispatch-control-plane";

/** `app.kubernetes.io/managed-by` of every object the driver makes: how it finds them again after a restart. */
export const MANAGED_BY = "dispatch-control-plane";

/** The port function workers listen on in their pods. */
export const WORKER_PORT = 8080;

/** The key of a revision's Secret that holds its instances' credential. */
export const TOKEN_KEY = "worker-token";

/** Labels that say which revision an object belongs to (values as Kubernetes allows them). */
export const labelKeys = {
  org: "dispatch.dev/org",
  function: "dispatch.dev/function",
  uid: "dispatch.dev/function-uid",
  generation: "dispatch.dev/generation",
  revision: "dispatch.dev/revision",
} as const;

/**
 * The labels every function pod has: `dispatch install`'s NetworkPolicies
 * select function pods by them (it imports them from here).
 */
export const functionPodLabels: Readonly<Record<string, string>> = {
  "app.kubernetes.io/part-of": "dispatch",
  "app.kubernetes.io/component": "function",
};

/**
 * The name of a revision's Deployment, Service and Secret: readable
 * (`<org>-<function>-<generation>`, cut to fit) and unique (a hash of org,
 * name, uid and generation), a DNS label of at most 63 characters as a
 * Service name must be. A function deleted and created again under its name
 * has another uid, so another name.
 */
export function revisionName(revision: Pick<RevisionSpec, "org" | "name" | "uid" | "generation">): string {
  const hash = createHash("sha256")
    .update(`${revision.org}\0${revision.name}\0${revision.uid}\0${revision.generation}`)
    .digest("hex")
    .slice(0, 8);
  const readable = `${revision.org}-${revision.name}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  const suffix = `-${revision.generation}-${hash}`;
  // "fn-" + readable + suffix ≤ 63, and a label ends with an alphanumeric.
  const room = 63 - 3 - suffix.length;
  return `fn-${readable.slice(0, room).replace(/-+$/, "")}${suffix}`;
}

/** A label value: at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric; longer ones hashed. */
function labelValue(text: string): string {
  if (/^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/.test(text)) return text;
  return `h-${createHash("sha256").update(text).digest("hex").slice(0, 40)}`;
}

/** The labels of a revision's objects; the selector is the `revision` one alone (it never changes). */
export function revisionLabels(revision: RevisionSpec): Record<string, string> {
  return {
    ...functionPodLabels,
    "app.kubernetes.io/managed-by": MANAGED_BY,
    [labelKeys.org]: labelValue(revision.org),
    [labelKeys.function]: labelValue(revision.name),
    [labelKeys.uid]: labelValue(revision.uid),
    [labelKeys.generation]: String(revision.generation),
    [labelKeys.revision]: revisionName(revision),
  };
}

/** Annotations that keep what labels cannot hold exactly: the names as given. */
function revisionAnnotations(revision: RevisionSpec): Record<string, string> {
  return {
    "dispatch.dev/org": revision.org,
    "dispatch.dev/function": revision.name,
    "dispatch.dev/function-uid": revision.uid,
    "dispatch.dev/generation": String(revision.generation),
    "dispatch.dev/bundle-digest": revision.bundle.digest,
  };
}

type Json = Record<string, unknown>;

/** A quantity of memory in bytes ("128Mi" → 134217728), or undefined when it is not one. */
export function memoryBytes(quantity: string): number | undefined {
  try {
    return parseQuantity(quantity);
  } catch {
    return undefined;
  }
}

/**
 * The Secret of a revision: its instances' credential and its environment,
 * so neither lands in the pod spec in clear. Owned by the Deployment, so it
 * goes with it.
 */
export function revisionSecret(
  revision: RevisionSpec,
  token: string,
  settings: RevisionObjectSettings,
  owner?: { uid: string },
): Json {
  const name = revisionName(revision);
  const data: Record<string, string> = { [TOKEN_KEY]: Buffer.from(token).toString("base64") };
  for (const [key, value] of Object.entries(revision.env)) {
    data[`env.${key}`] = Buffer.from(value).toString("base64");
  }
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace: settings.namespace,
      labels: revisionLabels(revision),
      annotations: revisionAnnotations(revision),
      ...(owner ? { ownerReferences: [ownerReference(name, owner.uid)] } : {}),
    },
    type: "Opaque",
    data,
  };
}

/** The headless Service whose EndpointSlices list the revision's pods. */
export function revisionService(
  revision: RevisionSpec,
  settings: RevisionObjectSettings,
  owner: { uid: string },
): Json {
  const name = revisionName(revision);
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: settings.namespace,
      labels: revisionLabels(revision),
      annotations: revisionAnnotations(revision),
      ownerReferences: [ownerReference(name, owner.uid)],
    },
    spec: {
      clusterIP: "None",
      // Only ready pods are routable: the driver learns of starting ones from the pods themselves.
      publishNotReadyAddresses: false,
      selector: { [labelKeys.revision]: name },
      ports: [{ name: "http", port: WORKER_PORT, targetPort: "http", protocol: "TCP" }],
    },
  };
}

function ownerReference(name: string, uid: string): Json {
  return { apiVersion: "apps/v1", kind: "Deployment", name, uid, controller: true, blockOwnerDeletion: true };
}

/**
 * The Deployment of a revision, without `spec.replicas`: replicas are set
 * through `/scale`, which owns the field, so applying the Deployment again
 * (a restart adopting it) never changes how many pods run.
 */
export function revisionDeployment(revision: RevisionSpec, settings: RevisionObjectSettings): Json {
  const name = revisionName(revision);
  const image = settings.images[revision.runtime];
  if (!image) {
    throw new Error(
      `no runtime image is configured for runtime "${revision.runtime}" (set DISPATCH_RUNTIME_IMAGE_${revision.runtime.toUpperCase()})`,
    );
  }
  const labels = revisionLabels(revision);
  const drainMs = settings.drainMs ?? 30_000;
  const limit = revision.memory === "" ? undefined : revision.memory;
  const limitBytes = limit === undefined ? undefined : memoryBytes(limit);
  const secretEnv = (variable: string, key: string) => ({
    name: variable,
    valueFrom: { secretKeyRef: { name, key } },
  });
  const env: Json[] = [
    { name: "DISPATCH_RUNTIME", value: revision.runtime },
    { name: "DISPATCH_HOST", value: "0.0.0.0" },
    { name: "DISPATCH_PORT", value: String(WORKER_PORT) },
    { name: "DISPATCH_FUNCTION", value: revision.name },
    { name: "DISPATCH_FUNCTION_DIR", value: "/function" },
    { name: "DISPATCH_HANDLER", value: revision.handler },
    { name: "DISPATCH_TIMEOUT_MS", value: String(revision.timeoutMs) },
    { name: "DISPATCH_DRAIN_MS", value: String(drainMs) },
    { name: "DISPATCH_MEMORY_LIMIT", value: String(limitBytes ?? 0) },
    { name: "DISPATCH_CONTROL_PLANE", value: settings.controlPlaneUrl },
    { name: "DISPATCH_BUNDLE_DIGEST", value: revision.bundle.digest },
    { name: "DISPATCH_BUNDLE_FORMAT", value: revision.bundle.format },
    { name: "DISPATCH_BUNDLE_FILENAME", value: revision.bundle.filename },
    secretEnv("DISPATCH_WORKER_TOKEN", TOKEN_KEY),
    ...Object.keys(revision.env)
      .sort()
      .map((key) => secretEnv(key, `env.${key}`)),
  ];
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name,
      namespace: settings.namespace,
      labels,
      annotations: revisionAnnotations(revision),
    },
    spec: {
      selector: { matchLabels: { [labelKeys.revision]: name } },
      revisionHistoryLimit: 0,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations: revisionAnnotations(revision) },
        spec: {
          serviceAccountName: settings.serviceAccount ?? "default",
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          // Calls in flight get their drain time, and a little more to exit.
          terminationGracePeriodSeconds: Math.ceil(drainMs / 1000) + 5,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            fsGroup: 1000,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [
            {
              name: "worker",
              image,
              imagePullPolicy: settings.imagePullPolicy ?? "IfNotPresent",
              ports: [{ name: "http", containerPort: WORKER_PORT, protocol: "TCP" }],
              env,
              readinessProbe: {
                httpGet: { path: "/healthz", port: "http" },
                // Probed every second, so a new pod takes calls soon after it listens; three
                // misses in a row (not one slow answer on a loaded node) take it out.
                periodSeconds: 1,
                timeoutSeconds: 2,
                failureThreshold: 3,
              },
              // Memory: requested and limited alike (the kernel kills above it). CPU: requested
              // only, as Knative does: a limit would throttle a burst the node could serve.
              resources: {
                requests: { cpu: revision.cpu || "100m", memory: limit ?? "128Mi" },
                ...(limit ? { limits: { memory: limit } } : {}),
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [
                { name: "function", mountPath: "/function" },
                { name: "tmp", mountPath: "/tmp" },
              ],
            },
          ],
          volumes: [
            { name: "function", emptyDir: {} },
            { name: "tmp", emptyDir: { medium: "Memory", ...(limit ? { sizeLimit: limit } : {}) } },
          ],
        },
      },
    },
  };
}
