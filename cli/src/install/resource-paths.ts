import type { KubeObject } from "./workload.js";

/** Where the API serves a kind: its group, version, plural and whether it lives in a namespace. */
export interface ResourceType {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/**
 * Every kind install applies or uninstall deletes. A fixed table rather than
 * discovery: these are stable APIs (v1 everywhere), and a kind missing here
 * is a bug to fix here, not something to find out at run time.
 */
export const resourceTypes: readonly ResourceType[] = [
  { apiVersion: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
  { apiVersion: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", plural: "roles", namespaced: true },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    namespaced: true,
  },
  { apiVersion: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true },
  { apiVersion: "v1", kind: "Secret", plural: "secrets", namespaced: true },
  { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true },
  { apiVersion: "v1", kind: "Service", plural: "services", namespaced: true },
  { apiVersion: "policy/v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", namespaced: true },
  { apiVersion: "apps/v1", kind: "StatefulSet", plural: "statefulsets", namespaced: true },
  { apiVersion: "apps/v1", kind: "Deployment", plural: "deployments", namespaced: true },
  { apiVersion: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", namespaced: true },
  { apiVersion: "v1", kind: "Pod", plural: "pods", namespaced: true },
];

/** The type of a kind. @throws Error for a kind not in {@link resourceTypes} (a bug). */
export function resourceType(kind: string): ResourceType {
  const type = resourceTypes.find((t) => t.kind === kind);
  if (!type) throw new Error(`install does not know where the API serves ${kind}`);
  return type;
}

/** `/api/v1/namespaces/ns/services`, `/apis/apps/v1/namespaces/ns/deployments`, `/api/v1/namespaces`. */
export function collectionPath(kind: string, namespace: string | undefined): string {
  const type = resourceType(kind);
  const root = type.apiVersion.includes("/") ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`;
  if (!type.namespaced) return `${root}/${type.plural}`;
  if (!namespace) throw new Error(`${kind} is namespaced: a namespace is needed`);
  return `${root}/namespaces/${encodeURIComponent(namespace)}/${type.plural}`;
}

/** The path of one object. */
export function objectPath(object: Pick<KubeObject, "kind" | "metadata">): string {
  return `${collectionPath(object.kind, object.metadata.namespace)}/${encodeURIComponent(object.metadata.name)}`;
}

/** `deployment.apps/name`, as kubectl names an object in its output. */
export function displayName(object: Pick<KubeObject, "kind" | "metadata">): string {
  const type = resourceType(object.kind);
  const group = type.apiVersion.includes("/") ? `.${type.apiVersion.split("/")[0]}` : "";
  return `${type.kind.toLowerCase()}${group}/${object.metadata.name}`;
}
