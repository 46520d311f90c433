import {
  arrayAt,
  deepEqual,
  isObject,
  type JsonObject,
  type JsonValue,
  numberAt,
  objectAt,
  stringAt,
} from "../json.js";
import type { ObjectStore } from "../object-store.js";
import { findType, type ResourceType } from "../resource-types.js";
import { mapSelectorOf } from "../selectors.js";
import type { PodAddress } from "./kubelet.js";
import { controllerReference, isPodReady, isTerminating, metaOf } from "./owners.js";

const services = findType("", "v1", "services") as ResourceType;
const pods = findType("", "v1", "pods") as ResourceType;
const slices = findType("discovery.k8s.io", "v1", "endpointslices") as ResourceType;
const manager = { fieldManager: "endpointslice-controller" };
const managedBy = "endpointslice-controller.k8s.io";
/** The real controller's default --max-endpoints-per-slice. */
const maxEndpointsPerSlice = 100;

/** The service's ports resolved against one pod's containers (named target ports by name). */
function resolvePorts(service: JsonObject, pod: JsonObject, address: PodAddress | undefined): JsonObject[] {
  const containers = arrayAt(objectAt(pod, "spec"), "containers").filter(isObject);
  const out: JsonObject[] = [];
  for (const port of arrayAt(objectAt(service, "spec"), "ports").filter(isObject)) {
    const target = port.targetPort ?? port.port;
    let number: number | undefined;
    if (typeof target === "number") number = target;
    else if (typeof target === "string") {
      for (const c of containers) {
        const named = arrayAt(c, "ports").find((p) => isObject(p) && p.name === target);
        if (isObject(named)) number = numberAt(named, "containerPort");
      }
      if (number === undefined && /^\d+$/.test(target)) number = Number(target);
    }
    if (number === undefined) continue;
    const entry: JsonObject = {
      port: address?.ports.get(number) ?? number,
      protocol: stringAt(port, "protocol") ?? "TCP",
    };
    const name = stringAt(port, "name");
    entry.name = name ?? "";
    out.push(entry);
  }
  return out;
}

/**
 * The EndpointSlice controller: for each Service with a selector, slices
 * (labelled `kubernetes.io/service-name`, owned by the Service) holding the
 * matching pods that have an IP, with conditions ready, serving and
 * terminating; pods whose ports resolve differently go into different slices,
 * at most 100 endpoints each. A Service with no such pods keeps one empty slice.
 */
export function reconcileEndpointSlices(
  store: ObjectStore,
  namespace: string,
  name: string,
  addressOf: (uid: string) => PodAddress | undefined,
): void {
  const service = store.find(services, namespace, name);
  if (!service || isTerminating(service)) return;
  const selector = mapSelectorOf(objectAt(objectAt(service, "spec"), "selector"));
  if (!selector) return;
  const groups = new Map<string, { ports: JsonObject[]; endpoints: JsonObject[] }>();
  for (const pod of store.list(pods, { namespace, labelSelector: selector }).items) {
    const status = objectAt(pod, "status");
    const ip = stringAt(status, "podIP");
    const phase = stringAt(status, "phase");
    if (!ip || phase === "Succeeded" || phase === "Failed") continue;
    const { uid, name: podName } = metaOf(pod);
    const ports = resolvePorts(service, pod, addressOf(uid));
    const key = JSON.stringify(ports);
    const group = groups.get(key) ?? { ports, endpoints: [] };
    groups.set(key, group);
    const terminating = isTerminating(pod);
    const ready = isPodReady(pod);
    const endpoint: JsonObject = {
      addresses: [ip],
      conditions: { ready: ready && !terminating, serving: ready, terminating },
      targetRef: { kind: "Pod", namespace, name: podName, uid },
    };
    const node = stringAt(objectAt(pod, "spec"), "nodeName");
    if (node) endpoint.nodeName = node;
    group.endpoints.push(endpoint);
  }
  const desired: { ports: JsonObject[]; endpoints: JsonObject[] }[] = [];
  for (const group of groups.values()) {
    group.endpoints.sort((a, b) =>
      String(objectAt(a, "targetRef")?.name).localeCompare(String(objectAt(b, "targetRef")?.name)),
    );
    for (let i = 0; i < group.endpoints.length; i += maxEndpointsPerSlice) {
      desired.push({ ports: group.ports, endpoints: group.endpoints.slice(i, i + maxEndpointsPerSlice) });
    }
  }
  if (desired.length === 0) desired.push({ ports: [], endpoints: [] });
  const existing = store.list(slices, { namespace }).items.filter((s) => {
    const labels = objectAt(objectAt(s, "metadata"), "labels");
    return (
      labels?.["kubernetes.io/service-name"] === name &&
      labels?.["endpointslice.kubernetes.io/managed-by"] === managedBy
    );
  });
  const unused = [...existing];
  for (const want of desired) {
    const index = unused.findIndex((s) =>
      deepEqual(arrayAt(s, "ports") as JsonValue, want.ports as JsonValue),
    );
    const reuse = index >= 0 ? unused.splice(index, 1)[0] : unused.shift();
    if (reuse) {
      if (
        deepEqual(arrayAt(reuse, "ports"), want.ports) &&
        deepEqual(arrayAt(reuse, "endpoints"), want.endpoints)
      )
        continue;
      store.update(
        slices,
        namespace,
        metaOf(reuse).name,
        { ...reuse, ports: want.ports, endpoints: want.endpoints },
        manager,
      );
    } else {
      store.create(
        slices,
        namespace,
        {
          metadata: {
            generateName: `${name}-`,
            labels: {
              "kubernetes.io/service-name": name,
              "endpointslice.kubernetes.io/managed-by": managedBy,
            },
            ownerReferences: [controllerReference(service)],
          },
          addressType: "IPv4",
          ports: want.ports,
          endpoints: want.endpoints,
        },
        manager,
      );
    }
  }
  for (const extra of unused) store.delete(slices, namespace, metaOf(extra).name, {});
}
