import { arrayAt, isObject, type JsonObject, objectAt, stringAt } from "../json.js";

/** An owner reference that marks `owner` as the controller of what carries it. */
export function controllerReference(owner: JsonObject): JsonObject {
  const metadata = objectAt(owner, "metadata");
  return {
    apiVersion: stringAt(owner, "apiVersion") ?? "",
    kind: stringAt(owner, "kind") ?? "",
    name: stringAt(metadata, "name") ?? "",
    uid: stringAt(metadata, "uid") ?? "",
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The controller owner reference of an object (kind, name, uid), if it has one. */
export function controllerOf(obj: JsonObject): { kind: string; name: string; uid: string } | undefined {
  for (const ref of arrayAt(objectAt(obj, "metadata"), "ownerReferences")) {
    if (isObject(ref) && ref.controller === true) {
      return {
        kind: stringAt(ref, "kind") ?? "",
        name: stringAt(ref, "name") ?? "",
        uid: stringAt(ref, "uid") ?? "",
      };
    }
  }
  return undefined;
}

/** The name, namespace and uid of an object. */
export function metaOf(obj: JsonObject): { name: string; namespace: string; uid: string } {
  const metadata = objectAt(obj, "metadata");
  return {
    name: stringAt(metadata, "name") ?? "",
    namespace: stringAt(metadata, "namespace") ?? "",
    uid: stringAt(metadata, "uid") ?? "",
  };
}

/** True when the object has a deletionTimestamp: it is going away. */
export function isTerminating(obj: JsonObject): boolean {
  return objectAt(obj, "metadata")?.deletionTimestamp !== undefined;
}

/** True when a pod's Ready condition is True. */
export function isPodReady(pod: JsonObject): boolean {
  return arrayAt(objectAt(pod, "status"), "conditions").some(
    (c) => isObject(c) && c.type === "Ready" && c.status === "True",
  );
}
