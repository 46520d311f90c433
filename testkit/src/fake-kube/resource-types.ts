import type { JsonObject } from "./json.js";

/**
 * One kind of object the fake API server serves: where it lives in the URL
 * space, how discovery describes it, and which of the real server's
 * behaviours apply to it (status and scale subresources, metadata.generation).
 */
export interface ResourceType {
  /** API group; "" for the core group. */
  group: string;
  version: string;
  /** Plural resource name in URLs: `deployments`. */
  resource: string;
  kind: string;
  namespaced: boolean;
  /** Has a `/status` subresource: writes to the main resource leave status alone, and the other way round. */
  status: boolean;
  /** Has a `/scale` subresource (autoscaling/v1 Scale over spec.replicas). */
  scale: boolean;
  /** Keeps metadata.generation, bumped when anything but metadata and status changes. */
  generation: boolean;
  shortNames?: readonly string[];
}

const type = (
  group: string,
  version: string,
  resource: string,
  kind: string,
  flags: Partial<Pick<ResourceType, "namespaced" | "status" | "scale" | "generation" | "shortNames">> = {},
): ResourceType => ({
  group,
  version,
  resource,
  kind,
  namespaced: flags.namespaced ?? true,
  status: flags.status ?? false,
  scale: flags.scale ?? false,
  generation: flags.generation ?? false,
  ...(flags.shortNames ? { shortNames: flags.shortNames } : {}),
});

/**
 * Every resource the fake serves. What a Dispatch installation and its
 * Kubernetes driver use: workloads, their discovery and leases, and the
 * objects `dispatch install` applies (RBAC, disruption budgets, network
 * policies, kept but not enforced).
 */
export const resourceTypes: readonly ResourceType[] = [
  type("", "v1", "namespaces", "Namespace", { namespaced: false, status: true, shortNames: ["ns"] }),
  type("", "v1", "nodes", "Node", { namespaced: false, status: true, shortNames: ["no"] }),
  type("", "v1", "pods", "Pod", { status: true, shortNames: ["po"] }),
  type("", "v1", "services", "Service", { status: true, shortNames: ["svc"] }),
  type("", "v1", "secrets", "Secret"),
  type("", "v1", "configmaps", "ConfigMap", { shortNames: ["cm"] }),
  type("", "v1", "serviceaccounts", "ServiceAccount", { shortNames: ["sa"] }),
  type("", "v1", "events", "Event", { shortNames: ["ev"] }),
  type("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", { status: true, shortNames: ["pvc"] }),
  type("apps", "v1", "deployments", "Deployment", {
    status: true,
    scale: true,
    generation: true,
    shortNames: ["deploy"],
  }),
  type("apps", "v1", "replicasets", "ReplicaSet", {
    status: true,
    scale: true,
    generation: true,
    shortNames: ["rs"],
  }),
  type("apps", "v1", "statefulsets", "StatefulSet", {
    status: true,
    scale: true,
    generation: true,
    shortNames: ["sts"],
  }),
  type("apps", "v1", "daemonsets", "DaemonSet", { status: true, generation: true, shortNames: ["ds"] }),
  type("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
  type("coordination.k8s.io", "v1", "leases", "Lease"),
  type("rbac.authorization.k8s.io", "v1", "roles", "Role"),
  type("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
  type("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", { namespaced: false }),
  type("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", { namespaced: false }),
  type("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", {
    status: true,
    generation: true,
    shortNames: ["pdb"],
  }),
  type("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", {
    generation: true,
    shortNames: ["netpol"],
  }),
];

/** `apps/v1`, or `v1` for the core group. */
export function apiVersionOf(t: Pick<ResourceType, "group" | "version">): string {
  return t.group === "" ? t.version : `${t.group}/${t.version}`;
}

/** A stable id for a resource type: `apps/v1/deployments`, `/v1/pods`. */
export function typeId(t: ResourceType): string {
  return `${t.group}/${t.version}/${t.resource}`;
}

/** The resource type served at group/version/resource, if any. */
export function findType(group: string, version: string, resource: string): ResourceType | undefined {
  return resourceTypes.find((t) => t.group === group && t.version === version && t.resource === resource);
}

/** The resource type of an apiVersion and kind (`apps/v1`, `Deployment`), if served. */
export function typeOfKind(apiVersion: string, kind: string): ResourceType | undefined {
  return resourceTypes.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
}

const verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** The `APIResourceList` discovery document of one group version (`/api/v1`, `/apis/apps/v1`). */
export function resourceList(group: string, version: string): JsonObject | undefined {
  const types = resourceTypes.filter((t) => t.group === group && t.version === version);
  if (types.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const t of types) {
    const entry: JsonObject = {
      name: t.resource,
      singularName: t.kind.toLowerCase(),
      namespaced: t.namespaced,
      kind: t.kind,
      verbs,
    };
    if (t.shortNames) entry.shortNames = [...t.shortNames];
    resources.push(entry);
    if (t.status) {
      resources.push({
        name: `${t.resource}/status`,
        singularName: "",
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["get", "patch", "update"],
      });
    }
    if (t.scale) {
      resources.push({
        name: `${t.resource}/scale`,
        singularName: "",
        namespaced: t.namespaced,
        group: "autoscaling",
        version: "v1",
        kind: "Scale",
        verbs: ["get", "patch", "update"],
      });
    }
  }
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf({ group, version }),
    resources,
  };
}

function groupDocument(group: string): JsonObject {
  const versions = [...new Set(resourceTypes.filter((t) => t.group === group).map((t) => t.version))];
  const list = versions.map((version) => ({ groupVersion: `${group}/${version}`, version }));
  return { name: group, versions: list, preferredVersion: list[0] ?? {} };
}

/** The `APIGroup` discovery document of a named group (`/apis/apps`), if served. */
export function apiGroup(group: string): JsonObject | undefined {
  if (group === "" || !resourceTypes.some((t) => t.group === group)) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...groupDocument(group) };
}

/** The `APIGroupList` at `/apis`. */
export function apiGroupList(): JsonObject {
  const groups = [...new Set(resourceTypes.map((t) => t.group).filter((g) => g !== ""))].sort();
  return { kind: "APIGroupList", apiVersion: "v1", groups: groups.map(groupDocument) };
}

/** The `APIVersions` at `/api`. */
export function coreVersions(serverAddress: string): JsonObject {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}
