import { arrayAt, isObject, type JsonObject, type JsonValue, objectAt, stringAt } from "../json.js";

/** A pod condition with the transition time kept while its status stays the same. */
export function podCondition(
  status: JsonObject,
  type: string,
  value: boolean,
  now: string,
  reason?: string,
  message?: string,
): void {
  const conditions = arrayAt(status, "conditions").filter(isObject);
  const old = conditions.find((c) => c.type === type);
  const text = value ? "True" : "False";
  const next: JsonObject = {
    type,
    status: text,
    lastProbeTime: null,
    lastTransitionTime: old && old.status === text ? (old.lastTransitionTime ?? now) : now,
  };
  if (reason) next.reason = reason;
  if (message) next.message = message;
  const order = ["PodScheduled", "Initialized", "ContainersReady", "Ready"];
  const rest = conditions.filter((c) => c.type !== type);
  status.conditions = [...rest, next].sort(
    (a, b) => order.indexOf(String(a.type)) - order.indexOf(String(b.type)),
  );
}

/** The containers of a pod's spec (name and image). */
export function containersOf(pod: JsonObject): { name: string; image: string }[] {
  return arrayAt(objectAt(pod, "spec"), "containers")
    .filter(isObject)
    .map((c) => ({ name: stringAt(c, "name") ?? "", image: stringAt(c, "image") ?? "" }));
}

/**
 * Sets every container's status: `state` (waiting, running or terminated, as
 * the API writes them), readiness, and optionally the last state and restart count.
 */
export function setContainerStatuses(
  pod: JsonObject,
  status: JsonObject,
  update: {
    state: JsonObject;
    ready: boolean;
    started: boolean;
    restartCount?: number;
    lastState?: JsonObject;
    containerID?: string;
  },
): void {
  const previous = arrayAt(status, "containerStatuses").filter(isObject);
  status.containerStatuses = containersOf(pod).map(({ name, image }): JsonValue => {
    const old = previous.find((s) => s.name === name);
    const out: JsonObject = {
      name,
      image,
      imageID: update.started ? `fake-registry/${image}@sha256:0` : "",
      ready: update.ready,
      started: update.started,
      restartCount: update.restartCount ?? (typeof old?.restartCount === "number" ? old.restartCount : 0),
      state: update.state,
      lastState: update.lastState ?? (isObject(old?.lastState) ? old.lastState : {}),
    };
    if (update.containerID) out.containerID = update.containerID;
    return out;
  });
}

/** The restart count of a pod's first container. */
export function restartCountOf(pod: JsonObject): number {
  const first = arrayAt(objectAt(pod, "status"), "containerStatuses")[0];
  return isObject(first) && typeof first.restartCount === "number" ? first.restartCount : 0;
}
