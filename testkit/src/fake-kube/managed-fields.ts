import {
  decodeFieldsV1,
  deleteAt,
  encodeFieldsV1,
  type FieldPath,
  FieldSet,
  fieldsOf,
  formatPath,
  mergeApplied,
  valueAt,
} from "./field-paths.js";
import { deepEqual, isObject, type JsonObject, type JsonValue, stringAt } from "./json.js";
import { KubeStatusError } from "./status-error.js";

/** One `metadata.managedFields` entry: what one manager owns, through which operation and subresource. */
export interface ManagedEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  /** "" for the main resource, else `status` or `scale`. */
  subresource: string;
  time: string;
  fields: FieldSet;
}

/** The entries of an object's `metadata.managedFields`; malformed entries are dropped. */
export function readManagedFields(metadata: JsonObject | undefined): ManagedEntry[] {
  const list = metadata?.managedFields;
  if (!Array.isArray(list)) return [];
  const entries: ManagedEntry[] = [];
  for (const item of list) {
    if (!isObject(item)) continue;
    const manager = stringAt(item, "manager");
    const operation = stringAt(item, "operation");
    if (manager === undefined || (operation !== "Apply" && operation !== "Update")) continue;
    entries.push({
      manager,
      operation,
      apiVersion: stringAt(item, "apiVersion") ?? "",
      subresource: stringAt(item, "subresource") ?? "",
      time: stringAt(item, "time") ?? "",
      fields: decodeFieldsV1(item.fieldsV1),
    });
  }
  return entries;
}

/** The `metadata.managedFields` array for a list of entries (entries owning nothing are left out). */
export function writeManagedFields(entries: readonly ManagedEntry[]): JsonObject[] {
  return entries
    .filter((e) => e.fields.size > 0)
    .map((e) => {
      const out: JsonObject = {
        manager: e.manager,
        operation: e.operation,
        apiVersion: e.apiVersion,
        time: e.time,
        fieldsType: "FieldsV1",
        fieldsV1: encodeFieldsV1(e.fields),
      };
      if (e.subresource !== "") out.subresource = e.subresource;
      return out;
    });
}

/** Who is writing: the field manager, the subresource written through and the API version used. */
export interface Writer {
  manager: string;
  subresource: string;
  apiVersion: string;
  time: string;
}

function entryOf(
  entries: ManagedEntry[],
  writer: Writer,
  operation: ManagedEntry["operation"],
): ManagedEntry {
  let entry = entries.find(
    (e) => e.manager === writer.manager && e.operation === operation && e.subresource === writer.subresource,
  );
  if (!entry) {
    entry = {
      manager: writer.manager,
      operation,
      apiVersion: writer.apiVersion,
      subresource: writer.subresource,
      time: "",
      fields: new FieldSet(),
    };
    entries.push(entry);
  }
  entry.apiVersion = writer.apiVersion;
  entry.time = writer.time;
  return entry;
}

/**
 * Ownership after a non-apply write (create, update, patch): the writer comes
 * to own every field it set or changed, and every other manager loses the
 * fields that changed under it. `before` and `after` are the owned views of
 * the object (server-set metadata and the other subresources left out).
 */
export function recordUpdate(
  entries: readonly ManagedEntry[],
  before: JsonObject,
  after: JsonObject,
  writer: Writer,
): ManagedEntry[] {
  const next = entries.map((e) => ({ ...e, fields: new FieldSet(e.fields.paths()) }));
  const oldFields = fieldsOf(before);
  const newFields = fieldsOf(after);
  const changed: FieldPath[] = [];
  for (const path of newFields.paths()) {
    const last = path[path.length - 1] ?? "";
    const isItem = last.startsWith("k:") || last.startsWith("v:");
    const was = valueAt(before, path);
    if (isItem ? was === undefined : !deepEqual(was, valueAt(after, path))) changed.push(path);
  }
  const removed = oldFields.paths().filter((path) => !newFields.has(path));
  if (changed.length === 0 && removed.length === 0) return next;
  for (const entry of next) {
    for (const path of changed) entry.fields.delete(path);
    for (const path of removed) entry.fields.deleteSelfAndDescendants(path);
  }
  const own = entryOf(next, writer, "Update");
  for (const path of changed) own.fields.add(path);
  return next.filter((e) => e.fields.size > 0);
}

/** A field another manager owns with a different value than an apply sets. */
export interface FieldConflict {
  manager: string;
  apiVersion: string;
  path: FieldPath;
}

/** 409 for an apply that would change fields other managers own, naming each field and manager. */
export class ApplyConflictError extends KubeStatusError {
  constructor(readonly conflicts: readonly FieldConflict[]) {
    const lines = conflicts.map(
      (c) => `conflict with "${c.manager}" using ${c.apiVersion}: ${formatPath(c.path)}`,
    );
    const message =
      conflicts.length === 1
        ? `Apply failed with 1 conflict: ${lines[0]}`
        : `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
    super(409, "Conflict", message, {
      causes: conflicts.map((c) => ({
        reason: "FieldManagerConflict",
        message: `conflict with "${c.manager}" using ${c.apiVersion}`,
        field: formatPath(c.path),
      })),
    });
    this.name = "ApplyConflictError";
  }
}

/** What an apply produced: the merged view and the entries after it. */
export interface ApplyResult {
  merged: JsonObject;
  entries: ManagedEntry[];
}

/**
 * Server-side apply of `config` (the owned view of the applied object) onto
 * `live`: fields other managers own with another value are conflicts (a 409
 * unless `force`, which takes them over); the applier then owns exactly the
 * fields of its config, and fields it applied before and no longer does are
 * removed unless another manager still owns them.
 */
export function applyConfig(
  entries: readonly ManagedEntry[],
  live: JsonObject,
  config: JsonObject,
  writer: Writer,
  force: boolean,
): ApplyResult {
  const next = entries.map((e) => ({ ...e, fields: new FieldSet(e.fields.paths()) }));
  const applied = fieldsOf(config);
  const isApplier = (e: ManagedEntry) =>
    e.manager === writer.manager && e.operation === "Apply" && e.subresource === writer.subresource;
  const conflicts: FieldConflict[] = [];
  for (const path of applied.paths()) {
    const last = path[path.length - 1] ?? "";
    if (last.startsWith("k:") || last.startsWith("v:")) continue;
    if (deepEqual(valueAt(live, path), valueAt(config, path))) continue;
    for (const entry of next) {
      if (isApplier(entry) || !entry.fields.has(path)) continue;
      // A manager's earlier non-apply writes never conflict with its own apply.
      if (entry.manager === writer.manager) continue;
      conflicts.push({ manager: entry.manager, apiVersion: entry.apiVersion, path });
    }
  }
  if (conflicts.length > 0 && !force) throw new ApplyConflictError(conflicts);
  for (const c of conflicts) {
    for (const entry of next) if (entry.manager === c.manager) entry.fields.delete(c.path);
  }
  for (const entry of next) {
    if (entry.manager === writer.manager && !isApplier(entry)) {
      for (const path of applied.paths()) entry.fields.delete(path);
    }
  }
  const merged = mergeApplied(live, config) as JsonObject;
  const own = entryOf(next, writer, "Apply");
  const previously = own.fields.paths();
  own.fields = applied;
  const others = next.filter((e) => e !== own);
  // Shortest first: once a field goes, what was under it went with it.
  const dropped = previously.filter((path) => !applied.has(path)).sort((a, b) => a.length - b.length);
  const removed: FieldPath[] = [];
  for (const path of dropped) {
    if (removed.some((r) => r.every((element, i) => element === path[i]))) continue;
    if (applied.hasSelfOrDescendant(path)) continue;
    if (others.some((e) => e.fields.hasSelfOrDescendant(path))) continue;
    if (isKeyField(path)) continue;
    deleteAt(merged, path);
    removed.push(path);
  }
  return { merged, entries: next.filter((e) => e.fields.size > 0) };
}

/** A key field of an associative list item (`k:{"name":"a"}` then `f:name`): it stays while the item does. */
function isKeyField(path: FieldPath): boolean {
  const last = path[path.length - 1] ?? "";
  const parent = path[path.length - 2] ?? "";
  if (!last.startsWith("f:") || !parent.startsWith("k:")) return false;
  return Object.hasOwn(JSON.parse(parent.slice(2)) as object, last.slice(2));
}

/** True when two entry lists own the same fields the same way (times aside): a write changing nothing. */
export function sameOwnership(a: readonly ManagedEntry[], b: readonly ManagedEntry[]): boolean {
  const key = (list: readonly ManagedEntry[]) =>
    list
      .filter((e) => e.fields.size > 0)
      .map((e) =>
        JSON.stringify([e.manager, e.operation, e.subresource, e.apiVersion, encodeFieldsV1(e.fields)]),
      )
      .sort();
  return deepEqual(key(a) as JsonValue, key(b) as JsonValue);
}
