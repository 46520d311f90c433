import type { InstallConfig, Resources } from "./config.js";
import { isDnsLabel, isDnsSubdomain, isHostName, suggestLabel } from "./names.js";
import { parseQuantity } from "./quantity.js";

/**
 * The shape of an install config, one entry per key: its type, its default
 * and what a value must satisfy. {@link resolveInstallConfig} walks it, so a
 * key that is not here is unknown, and each check names its field.
 */
export type FieldSpec =
  | {
      type: "string";
      default: string;
      check?: (value: string) => string | undefined;
      /** A YAML number is read as its text (quantities: `cpu: 2` means "2"). */
      numbers?: boolean;
    }
  | { type: "integer"; default: number; check: (value: number) => string | undefined }
  | { type: "boolean"; default: boolean }
  | { type: "enum"; default: string; values: readonly string[] }
  | { type: "strings"; default: readonly string[]; check?: (value: string) => string | undefined }
  | { type: "object"; fields: Readonly<Record<string, FieldSpec>> };

/** One thing wrong with an install config: the field's path (`nats.replicas`) and what is wrong. */
export interface ConfigViolation {
  field: string;
  message: string;
}

const string = (value: string, check?: (value: string) => string | undefined): FieldSpec =>
  check ? { type: "string", default: value, check } : { type: "string", default: value };

const between =
  (min: number, max: number, why = "") =>
  (n: number): string | undefined =>
    n >= min && n <= max ? undefined : `must be a whole number from ${min} to ${max}${why}, not ${n}`;

const quantityField = (value: string, unit: "cpu" | "memory"): FieldSpec => ({
  type: "string",
  default: value,
  check: quantity(unit),
  numbers: true,
});

const quantity =
  (unit: "cpu" | "memory") =>
  (text: string): string | undefined => {
    const value = parseQuantity(text);
    if (value === undefined) {
      return `"${text}" is not a Kubernetes quantity: write it as ${unit === "cpu" ? '"250m" or "1"' : '"512Mi" or "2Gi"'}`;
    }
    return value > 0 ? undefined : "must be above zero";
  };

const resources = (requests: [string, string], limits: [string, string]): FieldSpec => ({
  type: "object",
  fields: {
    requests: {
      type: "object",
      fields: { cpu: quantityField(requests[0], "cpu"), memory: quantityField(requests[1], "memory") },
    },
    limits: {
      type: "object",
      fields: { cpu: quantityField(limits[0], "cpu"), memory: quantityField(limits[1], "memory") },
    },
  },
});

const serviceTypes = ["ClusterIP", "NodePort", "LoadBalancer"] as const;

const tagPattern = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const pathComponent = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const registryPattern = new RegExp(`^[a-zA-Z0-9.-]+(?::[0-9]+)?(?:/${pathComponent})*$`);
const imagePattern = new RegExp(
  `^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?${pathComponent}(?:/${pathComponent})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`,
);

const image = (text: string) =>
  imagePattern.test(text)
    ? undefined
    : `"${text}" is not an image reference: write it as name:tag, e.g. "nats:2.10.24-alpine"`;

/**
 * Every key of an install config, with its default. `tag` is the default tag
 * of the Dispatch images (the CLI's version).
 */
export function installConfigSchema(tag: string): FieldSpec {
  return {
    type: "object",
    fields: {
      namespace: string("dispatch", (name) =>
        isDnsLabel(name)
          ? undefined
          : `"${name}" is not a valid namespace name: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. "${suggestLabel(name)}")`,
      ),
      clusterDomain: string("cluster.local", (domain) =>
        isDnsSubdomain(domain)
          ? undefined
          : `"${domain}" is not a DNS domain (the default is "cluster.local")`,
      ),
      hosts: {
        type: "strings",
        default: [],
        check: (host) =>
          isHostName(host)
            ? undefined
            : `"${host}" is not a host name: use lowercase DNS names such as "api.example.com" or "*.example.com"`,
      },
      images: {
        type: "object",
        fields: {
          registry: string("dispatch", (registry) =>
            registryPattern.test(registry)
              ? undefined
              : `"${registry}" is not a registry and path: write it as "registry.example.com/dispatch" (no scheme, no trailing "/")`,
          ),
          tag: string(tag, (value) =>
            tagPattern.test(value)
              ? undefined
              : `"${value}" is not an image tag: letters, digits, "_", "." and "-", at most 128, not starting with "." or "-"`,
          ),
          pullPolicy: { type: "enum", default: "IfNotPresent", values: ["IfNotPresent", "Always", "Never"] },
          pullSecrets: {
            type: "strings",
            default: [],
            check: (name) => (isDnsSubdomain(name) ? undefined : `"${name}" is not a Secret name`),
          },
          nats: string("nats:2.10.24-alpine", image),
          envoy: string("envoyproxy/envoy:v1.32.3", image),
        },
      },
      controlPlane: {
        type: "object",
        fields: {
          replicas: { type: "integer", default: 2, check: between(1, 10) },
          serviceType: { type: "enum", default: "ClusterIP", values: serviceTypes },
          resources: resources(["250m", "256Mi"], ["2", "1Gi"]),
        },
      },
      xdsServer: {
        type: "object",
        fields: {
          replicas: { type: "integer", default: 2, check: between(1, 10) },
          resources: resources(["100m", "128Mi"], ["1", "512Mi"]),
        },
      },
      eventBroker: {
        type: "object",
        fields: {
          replicas: { type: "integer", default: 2, check: between(1, 10) },
          serviceType: { type: "enum", default: "ClusterIP", values: serviceTypes },
          resources: resources(["100m", "128Mi"], ["1", "512Mi"]),
        },
      },
      envoy: {
        type: "object",
        fields: {
          replicas: { type: "integer", default: 2, check: between(1, 50) },
          serviceType: { type: "enum", default: "LoadBalancer", values: serviceTypes },
          port: { type: "integer", default: 80, check: between(1, 65535) },
          resources: resources(["100m", "128Mi"], ["2", "1Gi"]),
        },
      },
      nats: {
        type: "object",
        fields: {
          replicas: {
            type: "integer",
            default: 3,
            check: (n) =>
              n === 1 || n === 3 || n === 5
                ? undefined
                : `must be 1, 3 or 5, not ${n}: a JetStream cluster keeps a quorum only with an odd number of servers (3 for R3)`,
          },
          storage: {
            type: "object",
            fields: {
              className: string("", (name) =>
                name === "" || isDnsSubdomain(name)
                  ? undefined
                  : `"${name}" is not a StorageClass name (leave it empty for the cluster's default)`,
              ),
              size: quantityField("10Gi", "memory"),
            },
          },
          resources: resources(["250m", "512Mi"], ["2", "2Gi"]),
        },
      },
      functions: {
        type: "object",
        fields: { internetEgress: { type: "boolean", default: true } },
      },
    },
  };
}

/**
 * Applies defaults to a parsed install config and checks every value against
 * {@link installConfigSchema}. Returns the config, or every violation at once
 * (unknown keys with the known one they were probably meant to be, wrong
 * types, values out of range, requests above limits).
 */
export function resolveAgainstSchema(
  input: unknown,
  schema: FieldSpec,
): { config: InstallConfig; violations: ConfigViolation[] } {
  const violations: ConfigViolation[] = [];
  const config = resolveField(schema, input, "", violations) as InstallConfig;
  for (const component of ["controlPlane", "xdsServer", "eventBroker", "envoy", "nats"] as const) {
    checkRequestsWithinLimits(config[component].resources, component, violations);
  }
  return { config, violations };
}

function resolveField(spec: FieldSpec, value: unknown, path: string, violations: ConfigViolation[]): unknown {
  const add = (message: string) => violations.push({ field: path, message });
  // YAML's "key:" with nothing after it is null: the same as leaving the key out.
  const given = value !== undefined && value !== null;
  switch (spec.type) {
    case "object": {
      const object = given ? value : {};
      if (!isPlainObject(object)) {
        add(`must be a mapping of ${Object.keys(spec.fields).join(", ")}, not ${describe(value)}`);
        return resolveField(spec, undefined, path, violations);
      }
      for (const key of Object.keys(object)) {
        if (!Object.hasOwn(spec.fields, key)) {
          const near = nearest(key, Object.keys(spec.fields));
          violations.push({
            field: join(path, key),
            message: `unknown key${near ? `; did you mean "${near}"?` : ""} (${path === "" ? "the top level" : path} has ${Object.keys(spec.fields).join(", ")})`,
          });
        }
      }
      return Object.fromEntries(
        Object.entries(spec.fields).map(([key, field]) => [
          key,
          resolveField(field, object[key], join(path, key), violations),
        ]),
      );
    }
    case "string": {
      if (!given) return spec.default;
      if (spec.numbers && typeof value === "number" && Number.isFinite(value)) {
        const problem = spec.check?.(String(value));
        if (problem) add(problem);
        return String(value);
      }
      if (typeof value !== "string") {
        // YAML reads tag: 1.0 as the number 1: the text the user meant is already lost.
        add(
          `must be a string, not ${describe(value)}${typeof value === "number" ? ": put the value in quotes" : ""}`,
        );
        return spec.default;
      }
      const problem = spec.check?.(value);
      if (problem) add(problem);
      return value;
    }
    case "integer": {
      if (!given) return spec.default;
      const n = typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
      if (typeof n !== "number" || !Number.isSafeInteger(n)) {
        add(`must be a whole number, not ${describe(value)}`);
        return spec.default;
      }
      const problem = spec.check(n);
      if (problem) add(problem);
      return n;
    }
    case "boolean": {
      if (!given) return spec.default;
      // --set gives text: "true" and "false" mean what they say.
      const flag = value === "true" ? true : value === "false" ? false : value;
      if (typeof flag !== "boolean") {
        add(`must be true or false, not ${describe(value)}`);
        return spec.default;
      }
      return flag;
    }
    case "enum": {
      if (!given) return spec.default;
      if (typeof value !== "string" || !spec.values.includes(value)) {
        add(`must be one of ${spec.values.join(", ")}, not ${describe(value)}`);
        return spec.default;
      }
      return value;
    }
    case "strings": {
      if (!given) return [...spec.default];
      if (!Array.isArray(value)) {
        add(`must be a list of strings, not ${describe(value)}`);
        return [...spec.default];
      }
      const items: string[] = [];
      value.forEach((item, i) => {
        if (typeof item !== "string") {
          violations.push({ field: `${path}[${i}]`, message: `must be a string, not ${describe(item)}` });
          return;
        }
        const problem = spec.check?.(item);
        if (problem) violations.push({ field: `${path}[${i}]`, message: problem });
        items.push(item);
      });
      return items;
    }
  }
}

function checkRequestsWithinLimits(resources: Resources, component: string, violations: ConfigViolation[]) {
  for (const unit of ["cpu", "memory"] as const) {
    const request = parseQuantity(resources.requests[unit]);
    const limit = parseQuantity(resources.limits[unit]);
    if (request !== undefined && limit !== undefined && request > limit) {
      violations.push({
        field: `${component}.resources.requests.${unit}`,
        message: `${resources.requests[unit]} is above the limit (${component}.resources.limits.${unit}: ${resources.limits[unit]}); a request may not exceed its limit`,
      });
    }
  }
}

/** The setting (not a section) a path names, if any (for `--set`). */
export function schemaField(schema: FieldSpec, path: readonly string[]): FieldSpec | undefined {
  let spec: FieldSpec | undefined = schema;
  for (const key of path) {
    if (spec?.type !== "object") return undefined;
    spec = Object.hasOwn(spec.fields, key) ? spec.fields[key] : undefined;
  }
  return spec?.type === "object" ? undefined : spec;
}

/** Every settable path of the schema (`nats.storage.size`, ...), for error messages. */
export function schemaPaths(schema: FieldSpec, prefix = ""): string[] {
  if (schema.type !== "object") return [prefix];
  return Object.entries(schema.fields).flatMap(([key, field]) => schemaPaths(field, join(prefix, key)));
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (isPlainObject(value)) return "a mapping";
  return JSON.stringify(value) ?? String(value);
}

/** The candidate closest to `key` (case-insensitive edit distance ≤ 3), if any. */
export function nearest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
