import { clone, deepEqual, isObject, type JsonObject, type JsonValue, stableStringify } from "./json.js";

/**
 * Field paths as server-side apply names them (the FieldsV1 format):
 * `f:<field>` for a field of a map, `k:<json>` for an item of an associative
 * list by its key fields, `v:<json>` for an item of a set. A path is the list of
 * those elements from the object's root: [`f:spec`, `f:replicas`].
 */
export type FieldPath = readonly string[];

/** A set of field paths, as one field manager owns them. */
export class FieldSet {
  private readonly keys = new Map<string, FieldPath>();

  constructor(paths: Iterable<FieldPath> = []) {
    for (const path of paths) this.add(path);
  }

  add(path: FieldPath): void {
    this.keys.set(JSON.stringify(path), path);
  }

  has(path: FieldPath): boolean {
    return this.keys.has(JSON.stringify(path));
  }

  delete(path: FieldPath): void {
    this.keys.delete(JSON.stringify(path));
  }

  get size(): number {
    return this.keys.size;
  }

  paths(): FieldPath[] {
    return [...this.keys.values()];
  }

  /** True when this set holds `path` or a path under it. */
  hasSelfOrDescendant(path: FieldPath): boolean {
    for (const p of this.keys.values()) if (isPrefix(path, p)) return true;
    return false;
  }

  /** Removes `path` and every path under it. */
  deleteSelfAndDescendants(path: FieldPath): void {
    for (const [key, p] of this.keys) if (isPrefix(path, p)) this.keys.delete(key);
  }
}

function isPrefix(prefix: FieldPath, path: FieldPath): boolean {
  return prefix.length <= path.length && prefix.every((element, i) => element === path[i]);
}

/** How a list is merged and owned: by key fields, as a set of values, or whole. */
export type ListShape = { type: "map"; keys: readonly string[] } | { type: "set" } | { type: "atomic" };

/**
 * The list types of the Kubernetes schemas the fake needs to know
 * (`x-kubernetes-list-type` and `-list-map-keys`), by the field names on the
 * way to the list. Lists not named here are atomic: whoever sets one owns it whole.
 */
export function listShape(names: readonly string[]): ListShape {
  const last = names[names.length - 1];
  const parent = names[names.length - 2];
  switch (last) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
      return { type: "map", keys: ["name"] };
    case "volumeMounts":
      return { type: "map", keys: ["mountPath"] };
    case "conditions":
      return { type: "map", keys: ["type"] };
    case "ownerReferences":
      return { type: "map", keys: ["uid"] };
    case "hostAliases":
      return { type: "map", keys: ["ip"] };
    case "topologySpreadConstraints":
      return { type: "map", keys: ["topologyKey", "whenUnsatisfiable"] };
    case "finalizers":
      return { type: "set" };
    case "ports":
      if (parent === "containers" || parent === "initContainers")
        return { type: "map", keys: ["containerPort", "protocol"] };
      if (names.length === 2 && parent === "spec") return { type: "map", keys: ["port", "protocol"] };
      return { type: "atomic" };
    default:
      return { type: "atomic" };
  }
}

/** Maps owned whole: label selectors (`structType=atomic` in the schemas). */
function isAtomicMap(names: readonly string[], value: JsonObject): boolean {
  const last = names[names.length - 1];
  return (
    (last === "selector" ||
      last === "labelSelector" ||
      last === "namespaceSelector" ||
      last === "podSelector") &&
    ("matchLabels" in value || "matchExpressions" in value)
  );
}

/** The key of an item of an associative list (protocol defaults to TCP, as the server defaults it). */
function itemKey(item: JsonValue, keys: readonly string[]): JsonObject | undefined {
  if (!isObject(item)) return undefined;
  const key: JsonObject = {};
  for (const k of keys) {
    const value = item[k] ?? (k === "protocol" ? "TCP" : undefined);
    if (value === undefined) return undefined;
    key[k] = value;
  }
  return key;
}

function keyElement(key: JsonObject): string {
  return `k:${stableStringify(key)}`;
}

/**
 * Every field path set in `value`: leaves (scalars, atomic lists and maps,
 * empty maps) and the items of associative lists and sets.
 */
export function fieldsOf(value: JsonObject): FieldSet {
  const out = new FieldSet();
  const walk = (v: JsonValue, path: string[], names: string[]): void => {
    if (isObject(v) && Object.keys(v).length > 0 && !isAtomicMap(names, v)) {
      for (const [k, child] of Object.entries(v)) walk(child, [...path, `f:${k}`], [...names, k]);
      return;
    }
    if (Array.isArray(v) && v.length > 0) {
      const shape = listShape(names);
      if (shape.type === "map" && v.every((item) => itemKey(item, shape.keys))) {
        for (const item of v) {
          const itemPath = [...path, keyElement(itemKey(item, shape.keys) as JsonObject)];
          out.add(itemPath);
          walk(item, itemPath, names);
        }
        return;
      }
      if (shape.type === "set") {
        for (const item of v) out.add([...path, `v:${stableStringify(item)}`]);
        return;
      }
    }
    if (path.length > 0) out.add(path);
  };
  walk(value, [], []);
  return out;
}

/** The value at a field path, or undefined when it is not set. */
export function valueAt(root: JsonObject, path: FieldPath): JsonValue | undefined {
  let current: JsonValue | undefined = root;
  const names: string[] = [];
  for (const element of path) {
    if (current === undefined) return undefined;
    if (element.startsWith("f:")) {
      const name = element.slice(2);
      names.push(name);
      current = isObject(current) ? current[name] : undefined;
    } else if (Array.isArray(current)) {
      current = current.find((item) => matchesElement(item, element, names));
    } else {
      return undefined;
    }
  }
  return current;
}

function matchesElement(item: JsonValue, element: string, names: readonly string[]): boolean {
  if (element.startsWith("v:")) return stableStringify(item) === element.slice(2);
  const shape = listShape(names);
  if (shape.type !== "map") return false;
  const key = itemKey(item, shape.keys);
  return key !== undefined && keyElement(key) === element;
}

/** Removes the field (or list item) at a path; nothing when it is not set. */
export function deleteAt(root: JsonObject, path: FieldPath): void {
  if (path.length === 0) return;
  const parentPath = path.slice(0, -1);
  const parent = valueAt(root, parentPath);
  const last = path[path.length - 1] as string;
  if (last.startsWith("f:")) {
    if (isObject(parent)) delete parent[last.slice(2)];
    return;
  }
  if (!Array.isArray(parent)) return;
  const names = parentPath.filter((e) => e.startsWith("f:")).map((e) => e.slice(2));
  const index = parent.findIndex((item) => matchesElement(item, last, names));
  if (index >= 0) parent.splice(index, 1);
}

/**
 * Merges an applied configuration into the live object the way server-side
 * apply does: maps field by field, associative lists item by item (by key),
 * sets by value, anything else replaced by the applied value.
 */
export function mergeApplied(
  live: JsonValue | undefined,
  applied: JsonValue,
  names: readonly string[] = [],
): JsonValue {
  if (isObject(applied) && isObject(live) && !isAtomicMap(names, applied)) {
    const out: JsonObject = { ...live };
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(live[k], v, [...names, k]);
    return out;
  }
  if (Array.isArray(applied) && Array.isArray(live)) {
    const shape = listShape(names);
    if (shape.type === "map") {
      const out = [...live];
      for (const item of applied) {
        const key = itemKey(item, shape.keys);
        const index = key ? out.findIndex((o) => deepEqual(itemKey(o, shape.keys), key)) : -1;
        if (index >= 0) out[index] = mergeApplied(out[index], item, names);
        else out.push(clone(item));
      }
      return out;
    }
    if (shape.type === "set") {
      const out = [...live];
      for (const item of applied) if (!out.some((o) => deepEqual(o, item))) out.push(clone(item));
      return out;
    }
  }
  return clone(applied);
}

/** The FieldsV1 tree of a set: `{"f:spec":{"f:replicas":{}}}`, with "." where an item itself is owned. */
export function encodeFieldsV1(set: FieldSet): JsonObject {
  const root: JsonObject = {};
  const paths = set.paths().sort((a, b) => a.length - b.length);
  for (const path of paths) {
    let node = root;
    for (const element of path) {
      const next = node[element];
      if (isObject(next)) node = next;
      else {
        const created: JsonObject = {};
        node[element] = created;
        node = created;
      }
    }
  }
  // A path that is in the set and also has paths under it is marked with ".".
  for (const path of paths) {
    const node = valueAt2(root, path);
    if (node && Object.keys(node).some((k) => k !== ".")) node["."] = {};
  }
  return root;
}

function valueAt2(root: JsonObject, path: FieldPath): JsonObject | undefined {
  let node: JsonObject | undefined = root;
  for (const element of path) node = isObject(node?.[element]) ? (node?.[element] as JsonObject) : undefined;
  return node;
}

/** The set a FieldsV1 tree describes; anything malformed in it is skipped. */
export function decodeFieldsV1(tree: JsonValue | undefined): FieldSet {
  const out = new FieldSet();
  const walk = (node: JsonValue, path: string[]): void => {
    if (!isObject(node)) return;
    const children = Object.keys(node).filter((k) => k !== ".");
    if (path.length > 0 && ("." in node || children.length === 0)) out.add(path);
    for (const k of children) if (/^[fkv]:/.test(k)) walk(node[k] as JsonValue, [...path, k]);
  };
  if (tree !== undefined) walk(tree, []);
  return out;
}

/** A path as conflict messages print it: `.spec.template.spec.containers[name="app"].image`. */
export function formatPath(path: FieldPath): string {
  return path
    .map((element) => {
      if (element.startsWith("f:")) return `.${element.slice(2)}`;
      if (element.startsWith("k:")) {
        const key = JSON.parse(element.slice(2)) as JsonObject;
        return `[${Object.entries(key)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(",")}]`;
      }
      return `[${element.slice(2)}]`;
    })
    .join("");
}
