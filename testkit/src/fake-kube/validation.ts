import {
  arrayAt,
  deepEqual,
  isObject,
  type JsonObject,
  type JsonValue,
  numberAt,
  objectAt,
  stringAt,
} from "./json.js";
import type { ResourceType } from "./resource-types.js";
import { labelSelectorOf, matchesLabels } from "./selectors.js";
import { invalid, type KubeStatusError, type StatusCause } from "./status-error.js";

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedName =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const configKey = /^[-._a-zA-Z0-9]+$/;

/** Collects the causes of a 422, all at once, each with its field path. */
class Causes {
  readonly list: StatusCause[] = [];
  invalid(field: string, value: JsonValue | undefined, why: string): void {
    this.list.push({
      reason: "FieldValueInvalid",
      field,
      message: `Invalid value: ${JSON.stringify(value ?? null)}: ${why}`,
    });
  }
  required(field: string, why = ""): void {
    this.list.push({
      reason: "FieldValueRequired",
      field,
      message: why ? `Required value: ${why}` : "Required value",
    });
  }
  duplicate(field: string, value: JsonValue): void {
    this.list.push({
      reason: "FieldValueDuplicate",
      field,
      message: `Duplicate value: ${JSON.stringify(value)}`,
    });
  }
}

type NameRule = "label" | "dns1035" | "subdomain" | "path-segment";

function nameRule(type: ResourceType): NameRule {
  if (type.kind === "Namespace") return "label";
  if (type.kind === "Service") return "dns1035";
  if (type.group === "rbac.authorization.k8s.io") return "path-segment";
  return "subdomain";
}

/** Why `name` breaks the rule, or undefined when it is a valid name. */
function badName(name: string, rule: NameRule): string | undefined {
  switch (rule) {
    case "label":
      if (name.length > 63) return "must be no more than 63 characters";
      return dns1123Label.test(name)
        ? undefined
        : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    case "dns1035":
      if (name.length > 63) return "must be no more than 63 characters";
      return dns1035Label.test(name)
        ? undefined
        : "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    case "subdomain":
      if (name.length > 253) return "must be no more than 253 characters";
      return dns1123Subdomain.test(name)
        ? undefined
        : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    case "path-segment":
      if (name === "." || name === "..") return `may not be '${name}'`;
      return /[/%]/.test(name) ? "may not contain '/' or '%'" : undefined;
  }
}

function checkLabels(causes: Causes, field: string, labels: JsonObject | undefined): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!qualifiedName.test(key) || key.length > 316)
      causes.invalid(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.'");
    if (typeof value !== "string" || !labelValue.test(value) || value.length > 63) {
      causes.invalid(
        `${field}.${key}`,
        value,
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, at most 63 characters",
      );
    }
  }
}

function checkMetadata(causes: Causes, type: ResourceType, obj: JsonObject): void {
  const metadata = objectAt(obj, "metadata") ?? {};
  const name = stringAt(metadata, "name") ?? "";
  const why = name === "" ? undefined : badName(name, nameRule(type));
  if (name === "") causes.required("metadata.name", "name or generateName is required");
  else if (why) causes.invalid("metadata.name", name, why);
  checkLabels(causes, "metadata.labels", objectAt(metadata, "labels"));
  const annotations = objectAt(metadata, "annotations") ?? {};
  let size = 0;
  for (const [key, value] of Object.entries(annotations)) {
    size += key.length + String(value).length;
    if (!qualifiedName.test(key))
      causes.invalid(
        "metadata.annotations",
        key,
        "name part must consist of alphanumeric characters, '-', '_' or '.'",
      );
    if (typeof value !== "string") causes.invalid(`metadata.annotations.${key}`, value, "must be a string");
  }
  if (size > 256 * 1024) causes.invalid("metadata.annotations", null, "must have at most 262144 bytes");
  arrayAt(metadata, "ownerReferences").forEach((ref, i) => {
    const field = `metadata.ownerReferences[${i}]`;
    if (!isObject(ref)) {
      causes.invalid(field, ref, "must be an object");
      return;
    }
    for (const key of ["apiVersion", "kind", "name", "uid"]) {
      if (!stringAt(ref, key)) causes.required(`${field}.${key}`);
    }
  });
  arrayAt(metadata, "finalizers").forEach((f, i) => {
    if (typeof f !== "string" || !qualifiedName.test(f))
      causes.invalid(`metadata.finalizers[${i}]`, f, "must be a qualified name");
  });
}

function checkPodSpec(causes: Causes, field: string, spec: JsonObject | undefined): void {
  if (!spec) {
    causes.required(field);
    return;
  }
  const containers = arrayAt(spec, "containers");
  if (containers.length === 0) causes.required(`${field}.containers`);
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const cf = `${field}.containers[${i}]`;
    if (!isObject(c)) {
      causes.invalid(cf, c, "must be an object");
      return;
    }
    const name = stringAt(c, "name") ?? "";
    if (name === "") causes.required(`${cf}.name`);
    else if (badName(name, "label")) causes.invalid(`${cf}.name`, name, badName(name, "label") ?? "");
    else if (names.has(name)) causes.duplicate(`${cf}.name`, name);
    names.add(name);
    if (!stringAt(c, "image")) causes.required(`${cf}.image`);
    arrayAt(c, "ports").forEach((p, j) => {
      const port = isObject(p) ? numberAt(p, "containerPort") : undefined;
      if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
        causes.invalid(
          `${cf}.ports[${j}].containerPort`,
          port ?? null,
          "must be between 1 and 65535, inclusive",
        );
      }
    });
  });
}

function checkReplicas(causes: Causes, field: string, replicas: JsonValue | undefined): void {
  if (replicas === undefined || replicas === null) return;
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
    causes.invalid(field, replicas, "must be greater than or equal to 0");
  }
}

function checkWorkload(causes: Causes, obj: JsonObject, old: JsonObject | undefined): void {
  const spec = objectAt(obj, "spec");
  if (!spec) {
    causes.required("spec");
    return;
  }
  checkReplicas(causes, "spec.replicas", spec.replicas);
  const selector = objectAt(spec, "selector");
  const requirements = labelSelectorOf(selector);
  if (!requirements || requirements.length === 0) causes.required("spec.selector");
  const template = objectAt(spec, "template");
  const labels = objectAt(objectAt(template, "metadata"), "labels");
  if (requirements && requirements.length > 0 && !matchesLabels(requirements, labels)) {
    causes.invalid(
      "spec.template.metadata.labels",
      labels ?? null,
      "`selector` does not match template `labels`",
    );
  }
  checkPodSpec(causes, "spec.template.spec", objectAt(template, "spec"));
  const oldSelector = objectAt(objectAt(old, "spec"), "selector");
  if (old && !deepEqual(oldSelector, selector))
    causes.invalid("spec.selector", selector ?? null, "field is immutable");
}

function checkService(causes: Causes, obj: JsonObject, old: JsonObject | undefined): void {
  const spec = objectAt(obj, "spec") ?? {};
  const ports = arrayAt(spec, "ports");
  const names = new Set<string>();
  ports.forEach((p, i) => {
    if (!isObject(p)) {
      causes.invalid(`spec.ports[${i}]`, p, "must be an object");
      return;
    }
    const port = numberAt(p, "port");
    if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
      causes.invalid(`spec.ports[${i}].port`, port ?? null, "must be between 1 and 65535, inclusive");
    }
    const name = stringAt(p, "name") ?? "";
    if (ports.length > 1 && name === "") causes.required(`spec.ports[${i}].name`);
    if (name !== "" && names.has(name)) causes.duplicate(`spec.ports[${i}].name`, name);
    names.add(name);
  });
  const oldIP = stringAt(objectAt(old, "spec"), "clusterIP");
  if (old && oldIP !== undefined && stringAt(spec, "clusterIP") !== oldIP) {
    causes.invalid("spec.clusterIP", stringAt(spec, "clusterIP") ?? null, "field is immutable");
  }
}

function checkEndpointSlice(causes: Causes, obj: JsonObject): void {
  const addressType = stringAt(obj, "addressType");
  if (!addressType) causes.required("addressType");
  else if (!["IPv4", "IPv6", "FQDN"].includes(addressType))
    causes.invalid("addressType", addressType, 'supported values: "FQDN", "IPv4", "IPv6"');
  arrayAt(obj, "endpoints").forEach((e, i) => {
    const addresses = isObject(e) ? arrayAt(e, "addresses") : [];
    if (addresses.length === 0)
      causes.required(`endpoints[${i}].addresses`, "must contain at least 1 address");
  });
}

function checkData(causes: Causes, obj: JsonObject, base64: boolean): void {
  let size = 0;
  for (const field of ["data", "binaryData"]) {
    for (const [key, value] of Object.entries(objectAt(obj, field) ?? {})) {
      if (!configKey.test(key))
        causes.invalid(
          `${field}[${key}]`,
          key,
          "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
        );
      if (typeof value !== "string") causes.invalid(`${field}[${key}]`, value, "must be a string");
      else if ((base64 || field === "binaryData") && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
        causes.invalid(`${field}[${key}]`, "<value>", "illegal base64 data");
      } else size += value.length;
    }
  }
  if (size > 1024 * 1024) causes.invalid("data", null, "Too long: must have at most 1048576 bytes");
}

/**
 * The real server's validation, for the rules a client of these kinds can
 * trip: names, labels, owner references, a workload's selector against its
 * template and immutable fields, a Service's ports, an EndpointSlice's
 * addresses, data keys. Every broken rule is a cause of one 422.
 */
export function validateObject(
  type: ResourceType,
  obj: JsonObject,
  old: JsonObject | undefined,
): KubeStatusError | undefined {
  const causes = new Causes();
  checkMetadata(causes, type, obj);
  switch (type.kind) {
    case "Deployment":
    case "ReplicaSet":
    case "StatefulSet":
      checkWorkload(causes, obj, old);
      break;
    case "Pod":
      checkPodSpec(causes, "spec", objectAt(obj, "spec"));
      break;
    case "Service":
      checkService(causes, obj, old);
      break;
    case "EndpointSlice":
      checkEndpointSlice(causes, obj);
      break;
    case "ConfigMap":
      checkData(causes, obj, false);
      break;
    case "Secret":
      checkData(causes, obj, true);
      break;
    case "Lease": {
      const duration = objectAt(obj, "spec")?.leaseDurationSeconds;
      if (duration !== undefined && duration !== null && (typeof duration !== "number" || duration <= 0)) {
        causes.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0");
      }
      break;
    }
    default:
      break;
  }
  if (causes.list.length === 0) return undefined;
  const name = stringAt(objectAt(obj, "metadata"), "name") ?? "";
  return invalid(type.kind, type.group, name, causes.list);
}

/** Checks a Scale's spec.replicas; a 422 naming the Scale when it is not a non-negative integer. */
export function validateScale(name: string, replicas: JsonValue | undefined): KubeStatusError | undefined {
  const causes = new Causes();
  if (replicas === undefined || replicas === null) causes.required("spec.replicas");
  else checkReplicas(causes, "spec.replicas", replicas);
  return causes.list.length === 0 ? undefined : invalid("Scale", "autoscaling", name, causes.list);
}
