import { listShape } from "./field-paths.js";
import { clone, deepEqual, isObject, type JsonObject, type JsonValue } from "./json.js";
import { badRequest, KubeStatusError } from "./status-error.js";

/** The patch content types the server takes (server-side apply is handled apart). */
export const patchTypes = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * Strategic merge patch, for what clients send in practice: maps merge, null
 * deletes, lists with a patch merge key (containers and env by name, ports
 * by number, conditions by type, ...) merge item by item, `$patch: delete`
 * removes an item, `$patch: replace` replaces a map, finalizers merge as a set;
 * `$setElementOrder` and `$retainKeys` directives are accepted and ignored.
 */
export function strategicMergePatch(
  target: JsonValue | undefined,
  patch: JsonValue,
  names: readonly string[] = [],
): JsonValue {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return clone(rest);
  }
  if (patch.$patch === "delete") return {};
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith("$setElementOrder/") || key === "$retainKeys" || key === "$patch") continue;
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const list = key.slice("$deleteFromPrimitiveList/".length);
      const current = out[list];
      if (Array.isArray(current) && Array.isArray(value))
        out[list] = current.filter((v) => !value.some((d) => deepEqual(d, v)));
      continue;
    }
    if (value === null) {
      delete out[key];
      continue;
    }
    const path = [...names, key];
    const current = out[key];
    if (Array.isArray(value)) out[key] = mergeList(Array.isArray(current) ? current : [], value, path);
    else if (isObject(value)) out[key] = strategicMergePatch(current, value, path);
    else out[key] = clone(value);
  }
  return out;
}

function mergeList(current: JsonValue[], patch: JsonValue[], names: readonly string[]): JsonValue[] {
  const shape = listShape(names);
  if (shape.type === "set") {
    const out = [...current];
    for (const v of patch) if (!out.some((o) => deepEqual(o, v))) out.push(clone(v));
    return out;
  }
  if (shape.type !== "map") return clone(patch);
  const key = shape.keys[0] as string;
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return clone(patch.filter((item) => !(isObject(item) && item.$patch === "replace")));
  }
  const out = [...current];
  for (const item of patch) {
    if (!isObject(item) || item[key] === undefined)
      throw badRequest(`strategic merge patch: an item of ${names.join(".")} has no "${key}"`);
    const index = out.findIndex((o) => isObject(o) && deepEqual(o[key], item[key]));
    if (item.$patch === "delete") {
      if (index >= 0) out.splice(index, 1);
    } else if (index >= 0) {
      out[index] = strategicMergePatch(out[index], item, names);
    } else {
      out.push(strategicMergePatch({}, item, names));
    }
  }
  return out;
}

function patchFailed(message: string): KubeStatusError {
  return new KubeStatusError(422, "Invalid", `the JSON patch could not be applied: ${message}`);
}

function parsePointer(pointer: JsonValue | undefined): string[] {
  if (typeof pointer !== "string" || (pointer !== "" && !pointer.startsWith("/"))) {
    throw badRequest(`json patch: "${String(pointer)}" is not a JSON pointer (RFC 6901)`);
  }
  return pointer === ""
    ? []
    : pointer
        .slice(1)
        .split("/")
        .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function containerOf(root: JsonValue, tokens: string[]): { parent: JsonValue; last: string } {
  let parent: JsonValue = root;
  for (const token of tokens.slice(0, -1)) {
    const next: JsonValue | undefined = Array.isArray(parent)
      ? parent[Number(token)]
      : isObject(parent)
        ? parent[token]
        : undefined;
    if (next === undefined) throw patchFailed(`path /${tokens.join("/")} does not exist`);
    parent = next;
  }
  return { parent, last: tokens[tokens.length - 1] as string };
}

function getPointer(root: JsonValue, tokens: string[]): JsonValue {
  let node: JsonValue | undefined = root;
  for (const token of tokens) {
    node = Array.isArray(node) ? node[Number(token)] : isObject(node) ? node[token] : undefined;
    if (node === undefined) throw patchFailed(`path /${tokens.join("/")} does not exist`);
  }
  return node;
}

function arrayIndex(list: JsonValue[], token: string, forAdd: boolean): number {
  if (forAdd && token === "-") return list.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw patchFailed(`"${token}" is not an array index`);
  const index = Number(token);
  if (index > list.length || (!forAdd && index === list.length))
    throw patchFailed(`index ${index} is out of range`);
  return index;
}

function addAt(root: JsonValue, tokens: string[], value: JsonValue): JsonValue {
  if (tokens.length === 0) return clone(value);
  const { parent, last } = containerOf(root, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, clone(value));
  else if (isObject(parent)) parent[last] = clone(value);
  else throw patchFailed(`cannot add under a ${typeof parent}`);
  return root;
}

function removeAt(root: JsonValue, tokens: string[]): JsonValue {
  const { parent, last } = containerOf(root, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false), 1);
  else if (isObject(parent) && Object.hasOwn(parent, last)) delete parent[last];
  else throw patchFailed(`path /${tokens.join("/")} does not exist`);
  return root;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. A failed op fails the whole patch. */
export function jsonPatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!Array.isArray(patch))
    throw badRequest("json patch: the body must be a JSON array of operations (RFC 6902)");
  let doc = clone(target);
  for (const op of patch) {
    if (!isObject(op)) throw badRequest("json patch: every operation must be an object");
    const path = parsePointer(op.path);
    switch (op.op) {
      case "add":
        doc = addAt(doc, path, op.value ?? null);
        break;
      case "remove":
        doc = removeAt(doc, path);
        break;
      case "replace":
        getPointer(doc, path);
        doc =
          path.length === 0 ? clone(op.value ?? null) : addAt(removeAt(doc, path), path, op.value ?? null);
        break;
      case "move": {
        const from = parsePointer(op.from);
        const value = getPointer(doc, from);
        doc = addAt(removeAt(doc, from), path, value);
        break;
      }
      case "copy":
        doc = addAt(doc, path, getPointer(doc, parsePointer(op.from)));
        break;
      case "test":
        if (!deepEqual(getPointer(doc, path), op.value ?? null))
          throw patchFailed(`test failed at ${String(op.path)}`);
        break;
      default:
        throw badRequest(`json patch: unknown operation ${JSON.stringify(op.op ?? null)}`);
    }
  }
  return doc;
}
