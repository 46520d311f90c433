import { clone, type JsonObject, numberAt, objectAt, stringAt } from "../json.js";
import { type ObjectStore, randomSuffix } from "../object-store.js";
import { findType, type ResourceType } from "../resource-types.js";
import { controllerOf, controllerReference, isPodReady, isTerminating, metaOf } from "./owners.js";

const replicaSets = findType("apps", "v1", "replicasets") as ResourceType;
const pods = findType("", "v1", "pods") as ResourceType;
const manager = { fieldManager: "kube-controller-manager" };

/**
 * Which surplus pod goes first, as the real controller picks: unscheduled,
 * then not running, not ready, the lowest `controller.kubernetes.io/pod-deletion-cost`, newest.
 */
function deletionRank(pod: JsonObject): number[] {
  const scheduled = stringAt(objectAt(pod, "spec"), "nodeName") ? 1 : 0;
  const running = stringAt(objectAt(pod, "status"), "phase") === "Running" ? 1 : 0;
  const ready = isPodReady(pod) ? 1 : 0;
  const created = Date.parse(stringAt(objectAt(pod, "metadata"), "creationTimestamp") ?? "") || 0;
  const cost = Number(
    objectAt(objectAt(pod, "metadata"), "annotations")?.["controller.kubernetes.io/pod-deletion-cost"] ?? 0,
  );
  return [scheduled, running, ready, Number.isInteger(cost) ? cost : 0, -created];
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/**
 * The ReplicaSet controller: as many pods (`<replicaset>-<random>`, from the
 * template, owned by the ReplicaSet) as spec.replicas, deleting the surplus
 * (gracefully, when a kubelet runs them), and status from the pods.
 */
export function reconcileReplicaSet(store: ObjectStore, namespace: string, name: string): void {
  const rs = store.find(replicaSets, namespace, name);
  if (!rs || isTerminating(rs)) return;
  const { uid } = metaOf(rs);
  const spec = objectAt(rs, "spec") ?? {};
  const desired = numberAt(spec, "replicas") ?? 1;
  const template = objectAt(spec, "template") ?? {};
  const owned = () =>
    store
      .list(pods, { namespace })
      .items.filter((p) => controllerOf(p)?.uid === uid && !isTerminating(p))
      .filter((p) => !["Succeeded", "Failed"].includes(stringAt(objectAt(p, "status"), "phase") ?? ""));
  let active = owned();
  for (let i = active.length; i < desired; i++) {
    const templateMeta = objectAt(template, "metadata") ?? {};
    const metadata: JsonObject = {
      name: `${name}-${randomSuffix()}`,
      labels: clone(objectAt(templateMeta, "labels") ?? {}),
      ownerReferences: [controllerReference(rs)],
    };
    const annotations = objectAt(templateMeta, "annotations");
    if (annotations) metadata.annotations = clone(annotations);
    store.create(pods, namespace, { metadata, spec: clone(objectAt(template, "spec") ?? {}) }, manager);
  }
  if (active.length > desired) {
    const victims = [...active]
      .sort((a, b) => compareRanks(deletionRank(a), deletionRank(b)))
      .slice(0, active.length - desired);
    for (const pod of victims) store.delete(pods, namespace, metaOf(pod).name, {});
  }
  active = owned();
  const ready = active.filter(isPodReady).length;
  const status: JsonObject = {
    replicas: active.length,
    fullyLabeledReplicas: active.length,
    readyReplicas: ready,
    availableReplicas: ready,
    observedGeneration: numberAt(objectAt(rs, "metadata"), "generation") ?? 1,
  };
  for (const key of ["fullyLabeledReplicas", "readyReplicas", "availableReplicas"])
    if (status[key] === 0) delete status[key];
  const fresh = store.get(replicaSets, namespace, name);
  store.update(replicaSets, namespace, name, { ...fresh, status }, { ...manager, subresource: "status" });
}
