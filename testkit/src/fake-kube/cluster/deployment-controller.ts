import { createHash } from "node:crypto";
import { arrayAt, child, clone, isObject, type JsonObject, numberAt, objectAt, stringAt } from "../json.js";
import type { ObjectStore } from "../object-store.js";
import { findType, type ResourceType } from "../resource-types.js";
import { controllerOf, controllerReference, isTerminating, metaOf } from "./owners.js";

const deployments = findType("apps", "v1", "deployments") as ResourceType;
const replicaSets = findType("apps", "v1", "replicasets") as ResourceType;
const manager = { fieldManager: "kube-controller-manager" };
const alphabet = "bcdfghjklmnpqrstvwxz2456789";

/**
 * The `pod-template-hash` of a pod template: as the real controller's, a
 * short, DNS-safe name part that changes whenever the template changes.
 */
export function podTemplateHash(template: JsonObject): string {
  const digest = createHash("sha256").update(JSON.stringify(template)).digest();
  const n = digest.readUInt32BE(0);
  return [...String(n)].map((d, i) => alphabet[(Number(d) + i * 7) % alphabet.length]).join("");
}

function condition(
  type: string,
  status: boolean,
  reason: string,
  message: string,
  previous: JsonObject[],
  now: string,
): JsonObject {
  const old = previous.find((c) => c.type === type);
  const value = status ? "True" : "False";
  const transition = old && old.status === value ? (old.lastTransitionTime ?? now) : now;
  return { type, status: value, reason, message, lastUpdateTime: now, lastTransitionTime: transition };
}

/**
 * The Deployment controller, simplified: one ReplicaSet per pod template
 * (`<deployment>-<pod-template-hash>`) scaled to spec.replicas; older
 * ReplicaSets scaled down as the new one's pods become ready (RollingUpdate)
 * or at once (Recreate); status (replicas, updated, ready, available,
 * observedGeneration, Available and Progressing) from the ReplicaSets.
 */
export function reconcileDeployment(store: ObjectStore, namespace: string, name: string, now: string): void {
  const deployment = store.find(deployments, namespace, name);
  if (!deployment || isTerminating(deployment)) return;
  const { uid } = metaOf(deployment);
  const spec = objectAt(deployment, "spec") ?? {};
  const desired = numberAt(spec, "replicas") ?? 1;
  const template = clone(objectAt(spec, "template") ?? {});
  const hash = podTemplateHash(template);
  child(child(template, "metadata"), "labels")["pod-template-hash"] = hash;
  const owned = store.list(replicaSets, { namespace }).items.filter((rs) => controllerOf(rs)?.uid === uid);
  const newName = `${name}-${hash}`;
  let current = owned.find((rs) => metaOf(rs).name === newName);
  const old = owned.filter((rs) => rs !== current);
  const recreate = stringAt(objectAt(spec, "strategy"), "type") === "Recreate";
  const oldPods = old.reduce((sum, rs) => sum + (numberAt(objectAt(rs, "status"), "replicas") ?? 0), 0);
  const newTarget = recreate && oldPods > 0 ? 0 : desired;
  const revisions = owned.map((rs) =>
    Number(
      stringAt(objectAt(objectAt(rs, "metadata"), "annotations"), "deployment.kubernetes.io/revision") ?? 0,
    ),
  );
  const revision = String(Math.max(0, ...revisions) + 1);
  if (!current) {
    const selector = clone(objectAt(spec, "selector") ?? {});
    child(selector, "matchLabels")["pod-template-hash"] = hash;
    current = store.create(
      replicaSets,
      namespace,
      {
        metadata: {
          name: newName,
          labels: clone(objectAt(objectAt(template, "metadata"), "labels") ?? {}),
          annotations: { "deployment.kubernetes.io/revision": revision },
          ownerReferences: [controllerReference(deployment)],
        },
        spec: { replicas: newTarget, selector, template },
      },
      manager,
    );
  } else if (numberAt(objectAt(current, "spec"), "replicas") !== newTarget) {
    current = store.patch(
      replicaSets,
      namespace,
      newName,
      "application/merge-patch+json",
      { spec: { replicas: newTarget } },
      manager,
    );
  }
  const newReady = numberAt(objectAt(current, "status"), "readyReplicas") ?? 0;
  let allowance = recreate ? 0 : Math.max(0, desired - newReady);
  for (const rs of old) {
    const replicas = numberAt(objectAt(rs, "spec"), "replicas") ?? 0;
    const target = Math.min(replicas, allowance);
    allowance -= target;
    if (target !== replicas) {
      store.patch(
        replicaSets,
        namespace,
        metaOf(rs).name,
        "application/merge-patch+json",
        { spec: { replicas: target } },
        manager,
      );
    }
  }
  const all = store.list(replicaSets, { namespace }).items.filter((rs) => controllerOf(rs)?.uid === uid);
  const sum = (key: string) =>
    all.reduce((total, rs) => total + (numberAt(objectAt(rs, "status"), key) ?? 0), 0);
  const newStatus = objectAt(all.find((rs) => metaOf(rs).name === newName) ?? {}, "status");
  const available = sum("availableReplicas");
  const replicas = sum("replicas");
  const updated = numberAt(newStatus, "replicas") ?? 0;
  const previous = arrayAt(objectAt(deployment, "status"), "conditions").filter(isObject);
  const complete = updated === desired && replicas === desired && available === desired;
  const status: JsonObject = {
    observedGeneration: numberAt(objectAt(deployment, "metadata"), "generation") ?? 1,
    replicas,
    updatedReplicas: updated,
    readyReplicas: sum("readyReplicas"),
    availableReplicas: available,
    conditions: [
      condition(
        "Available",
        available >= desired,
        available >= desired ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
        available >= desired
          ? "Deployment has minimum availability."
          : "Deployment does not have minimum availability.",
        previous,
        now,
      ),
      condition(
        "Progressing",
        true,
        complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
        complete
          ? `ReplicaSet "${newName}" has successfully progressed.`
          : `ReplicaSet "${newName}" is progressing.`,
        previous,
        now,
      ),
    ],
  };
  if (desired - available > 0) status.unavailableReplicas = desired - available;
  for (const key of ["replicas", "updatedReplicas", "readyReplicas", "availableReplicas"]) {
    if (status[key] === 0) delete status[key];
  }
  const fresh = store.get(deployments, namespace, name);
  const unchangedConditions =
    JSON.stringify(stripTimes(status)) === JSON.stringify(stripTimes(objectAt(fresh, "status") ?? {}));
  if (unchangedConditions) return;
  store.update(deployments, namespace, name, { ...fresh, status }, { ...manager, subresource: "status" });
}

/** Status without the condition times, to tell whether anything but the clock changed. */
function stripTimes(status: JsonObject): JsonObject {
  const copy = clone(status);
  for (const c of arrayAt(copy, "conditions")) {
    if (isObject(c)) {
      delete c.lastUpdateTime;
      delete c.lastTransitionTime;
    }
  }
  return copy;
}
