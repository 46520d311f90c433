import { child, clone, type JsonObject, objectAt, stringAt } from "./json.js";
import { apiVersionOf, type ResourceType } from "./resource-types.js";
import { formatLabelSelector, labelSelectorOf } from "./selectors.js";

/** Where a write goes: the object itself, or its `status` or `scale` subresource. */
export type Subresource = "" | "status" | "scale";

/** Metadata only the server sets; clients' values for them are ignored, and nobody owns them. */
export const serverMetadata = [
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
] as const;

/**
 * The part of an object a write through `subresource` may change, as field
 * ownership sees it: the main resource without server-set metadata (and
 * without status when status is a subresource), `{status}` for /status,
 * `{spec: {replicas}}` for /scale.
 */
export function ownedView(type: ResourceType, obj: JsonObject, subresource: Subresource): JsonObject {
  if (subresource === "status") return obj.status === undefined ? {} : { status: clone(obj.status) };
  if (subresource === "scale") {
    const replicas = objectAt(obj, "spec")?.replicas;
    return replicas === undefined ? {} : { spec: { replicas: clone(replicas) } };
  }
  const view = clone(obj);
  delete view.apiVersion;
  delete view.kind;
  if (type.status) delete view.status;
  const metadata = objectAt(view, "metadata");
  if (metadata) {
    for (const key of [...serverMetadata, "name", "namespace", "generateName"]) delete metadata[key];
    if (Object.keys(metadata).length === 0) delete view.metadata;
  }
  return view;
}

/**
 * The whole object after a write through `subresource` changed its owned view:
 * what the write may not change is taken from `old`.
 */
export function withView(
  type: ResourceType,
  old: JsonObject,
  view: JsonObject,
  subresource: Subresource,
): JsonObject {
  if (subresource === "status") {
    const next = clone(old);
    if (view.status === undefined) delete next.status;
    else next.status = clone(view.status);
    return next;
  }
  if (subresource === "scale") {
    const next = clone(old);
    const replicas = objectAt(view, "spec")?.replicas;
    if (replicas !== undefined) child(next, "spec").replicas = clone(replicas);
    return next;
  }
  const next: JsonObject = { apiVersion: apiVersionOf(type), kind: type.kind, ...clone(view) };
  const metadata = child(next, "metadata");
  const oldMetadata = objectAt(old, "metadata") ?? {};
  for (const key of ["name", "namespace", ...serverMetadata]) {
    if (oldMetadata[key] !== undefined) metadata[key] = clone(oldMetadata[key]);
  }
  if (type.status && old.status !== undefined) next.status = clone(old.status);
  return next;
}

/** The autoscaling/v1 Scale of a workload, as GET .../scale returns it. */
export function scaleOf(obj: JsonObject): JsonObject {
  const metadata = objectAt(obj, "metadata") ?? {};
  const spec = objectAt(obj, "spec");
  const selector = labelSelectorOf(objectAt(spec, "selector"));
  const scaleMetadata: JsonObject = {};
  for (const key of ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"]) {
    if (metadata[key] !== undefined) scaleMetadata[key] = clone(metadata[key]);
  }
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: scaleMetadata,
    spec: { replicas: typeof spec?.replicas === "number" ? spec.replicas : 0 },
    status: {
      replicas:
        typeof objectAt(obj, "status")?.replicas === "number"
          ? (objectAt(obj, "status")?.replicas as number)
          : 0,
      selector: selector ? formatLabelSelector(selector) : "",
    },
  };
}

/** The name and namespace of an object (empty strings when missing). */
export function nameOf(obj: JsonObject): { name: string; namespace: string } {
  const metadata = objectAt(obj, "metadata");
  return { name: stringAt(metadata, "name") ?? "", namespace: stringAt(metadata, "namespace") ?? "" };
}
