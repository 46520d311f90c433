import { arrayAt, child, isObject, type JsonObject, objectAt, stringAt } from "./json.js";
import type { ResourceType } from "./resource-types.js";

/** What defaulting needs from the server: the next free Service cluster IP. */
export interface DefaultingContext {
  allocateClusterIP(): string;
}

function setDefault(obj: JsonObject, key: string, value: JsonObject[string]): void {
  if (obj[key] === undefined || obj[key] === null) obj[key] = value;
}

function defaultProbe(probe: JsonObject | undefined): void {
  if (!probe) return;
  setDefault(probe, "timeoutSeconds", 1);
  setDefault(probe, "periodSeconds", 10);
  setDefault(probe, "successThreshold", 1);
  setDefault(probe, "failureThreshold", 3);
  const httpGet = objectAt(probe, "httpGet");
  if (httpGet) setDefault(httpGet, "scheme", "HTTP");
}

function defaultContainer(container: JsonObject): void {
  setDefault(container, "terminationMessagePath", "/dev/termination-log");
  setDefault(container, "terminationMessagePolicy", "File");
  const image = stringAt(container, "image") ?? "";
  const tagged = /:[^/]+$/.test(image) && !image.endsWith(":latest");
  setDefault(container, "imagePullPolicy", tagged || image.includes("@") ? "IfNotPresent" : "Always");
  for (const port of arrayAt(container, "ports")) if (isObject(port)) setDefault(port, "protocol", "TCP");
  defaultProbe(objectAt(container, "readinessProbe"));
  defaultProbe(objectAt(container, "livenessProbe"));
  defaultProbe(objectAt(container, "startupProbe"));
  setDefault(container, "resources", {});
}

/** The defaults the real server gives a PodSpec (the ones a reader of a pod would notice missing). */
function defaultPodSpec(spec: JsonObject | undefined): void {
  if (!spec) return;
  setDefault(spec, "restartPolicy", "Always");
  setDefault(spec, "terminationGracePeriodSeconds", 30);
  setDefault(spec, "dnsPolicy", "ClusterFirst");
  setDefault(spec, "schedulerName", "default-scheduler");
  setDefault(spec, "securityContext", {});
  for (const c of [...arrayAt(spec, "containers"), ...arrayAt(spec, "initContainers")]) {
    if (isObject(c)) defaultContainer(c);
  }
}

function defaultTemplate(spec: JsonObject): void {
  const template = objectAt(spec, "template");
  if (template) defaultPodSpec(objectAt(template, "spec"));
}

/**
 * Fills the fields the real API server defaults on write, per kind, so what a
 * client reads back looks like what a cluster returns (Deployment replicas and
 * strategy, container pull policy and port protocol, a Service's cluster IP,
 * a Secret's `stringData` folded into base64 `data`). Mutates `obj`.
 */
export function applyDefaults(type: ResourceType, obj: JsonObject, context: DefaultingContext): void {
  const spec = objectAt(obj, "spec");
  const metadata = child(obj, "metadata");
  switch (type.kind) {
    case "Namespace":
      child(metadata, "labels")["kubernetes.io/metadata.name"] = stringAt(metadata, "name") ?? "";
      setDefault(child(obj, "status"), "phase", "Active");
      return;
    case "Deployment": {
      const s = child(obj, "spec");
      setDefault(s, "replicas", 1);
      setDefault(s, "revisionHistoryLimit", 10);
      setDefault(s, "progressDeadlineSeconds", 600);
      setDefault(s, "strategy", { type: "RollingUpdate" });
      const strategy = objectAt(s, "strategy");
      if (strategy && stringAt(strategy, "type") === "RollingUpdate") {
        setDefault(strategy, "rollingUpdate", {});
        const rolling = objectAt(strategy, "rollingUpdate");
        if (rolling) {
          setDefault(rolling, "maxUnavailable", "25%");
          setDefault(rolling, "maxSurge", "25%");
        }
      }
      defaultTemplate(s);
      return;
    }
    case "ReplicaSet":
    case "StatefulSet": {
      const s = child(obj, "spec");
      setDefault(s, "replicas", 1);
      if (type.kind === "StatefulSet") {
        setDefault(s, "podManagementPolicy", "OrderedReady");
        setDefault(s, "revisionHistoryLimit", 10);
        setDefault(s, "updateStrategy", { type: "RollingUpdate", rollingUpdate: { partition: 0 } });
      }
      defaultTemplate(s);
      return;
    }
    case "DaemonSet":
      if (spec) defaultTemplate(spec);
      return;
    case "Pod":
      defaultPodSpec(spec);
      return;
    case "Service": {
      const s = child(obj, "spec");
      setDefault(s, "type", "ClusterIP");
      setDefault(s, "sessionAffinity", "None");
      if (stringAt(s, "type") !== "ExternalName") {
        setDefault(s, "clusterIP", context.allocateClusterIP());
        setDefault(s, "clusterIPs", [stringAt(s, "clusterIP") ?? ""]);
        setDefault(s, "ipFamilies", ["IPv4"]);
        setDefault(s, "ipFamilyPolicy", "SingleStack");
        setDefault(s, "internalTrafficPolicy", "Cluster");
      }
      for (const port of arrayAt(s, "ports")) {
        if (!isObject(port)) continue;
        setDefault(port, "protocol", "TCP");
        setDefault(port, "targetPort", port.port ?? null);
      }
      return;
    }
    case "Secret": {
      setDefault(obj, "type", "Opaque");
      const stringData = objectAt(obj, "stringData");
      if (stringData) {
        const data = child(obj, "data");
        for (const [key, value] of Object.entries(stringData)) {
          data[key] = Buffer.from(String(value), "utf8").toString("base64");
        }
        delete obj.stringData;
      }
      return;
    }
    default:
      return;
  }
}
