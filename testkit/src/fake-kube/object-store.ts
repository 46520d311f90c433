import { randomInt, randomUUID } from "node:crypto";
import { applyDefaults } from "./defaults.js";
import {
  arrayAt,
  child,
  clone,
  deepEqual,
  isObject,
  type JsonObject,
  type JsonValue,
  numberAt,
  objectAt,
  stringAt,
} from "./json.js";
import {
  applyConfig,
  type ManagedEntry,
  readManagedFields,
  recordUpdate,
  sameOwnership,
  type Writer,
  writeManagedFields,
} from "./managed-fields.js";
import { nameOf, ownedView, type Subresource, scaleOf, withView } from "./object-views.js";
import { jsonPatch, mergePatch, patchTypes, strategicMergePatch } from "./patches.js";
import { apiVersionOf, findType, type ResourceType, resourceTypes, typeId } from "./resource-types.js";
import { type FieldRequirement, type LabelSelector, matchesFields, matchesLabels } from "./selectors.js";
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  KubeStatusError,
  notFound,
  staleObjectMessage,
} from "./status-error.js";
import { validateObject, validateScale } from "./validation.js";

/** A change to one object, as watches deliver it. */
export interface StoreEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  resourceType: ResourceType;
  /** The global resourceVersion this change was written at. */
  resourceVersion: number;
  /** The object after the change (for DELETED, as it was when deleted, with the deletion's resourceVersion). */
  object: JsonObject;
  /** The object before the change; undefined for ADDED. */
  previous: JsonObject | undefined;
}

/** Options of a write: who writes (`fieldManager`), through which subresource, dry run, and apply's force. */
export interface WriteOptions {
  fieldManager: string;
  subresource?: Subresource;
  dryRun?: boolean;
  force?: boolean;
}

/** DeleteOptions, as the API takes them. */
export interface DeleteOptions {
  propagationPolicy?: "Orphan" | "Background" | "Foreground";
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

/** What a list or watch selects: a namespace (undefined for all), labels and fields. */
export interface ObjectFilter {
  namespace?: string | undefined;
  labelSelector?: LabelSelector;
  fieldSelector?: readonly FieldRequirement[];
}

/** What a delete did: removed the object at once, or marked it for deletion (finalizers, graceful pods). */
export interface DeleteResult {
  object: JsonObject;
  removed: boolean;
}

/** Options of {@link ObjectStore}. */
export interface ObjectStoreOptions {
  /** How many changes the history keeps for watches to resume from; older resourceVersions get 410 Gone. */
  historySize: number;
  /** The clock of creationTimestamp, deletionTimestamp and managedFields times. */
  now?: () => Date;
}

/** A pod's graceful deletion period, when the pod needs one (a kubelet runs it), else undefined. */
export type GracePolicy = (
  type: ResourceType,
  obj: JsonObject,
  requested: number | undefined,
) => number | undefined;

const suffixAlphabet = "bcdfghjklmnpqrstvwxz2456789";

/** Five characters as the real server appends to a `generateName`. */
export function randomSuffix(): string {
  let out = "";
  for (let i = 0; i < 5; i++) out += suffixAlphabet[randomInt(suffixAlphabet.length)];
  return out;
}

function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function withoutVolatile(obj: JsonObject): JsonObject {
  const copy = clone(obj);
  const metadata = objectAt(copy, "metadata");
  if (metadata) {
    delete metadata.resourceVersion;
    delete metadata.managedFields;
  }
  return copy;
}

function generationFields(obj: JsonObject): JsonObject {
  const copy = clone(obj);
  for (const key of ["metadata", "status", "apiVersion", "kind"]) delete copy[key];
  return copy;
}

/**
 * The fake API server's storage, with the real server's write semantics: one
 * global resourceVersion counter stamped on every change, uid and
 * creationTimestamp on create, generation bumped when anything but metadata
 * and status changes, optimistic concurrency on resourceVersion, defaulting and
 * validation, field ownership (managedFields) and server-side apply, deletion
 * with finalizers, graceful pod deletion and owner-reference garbage
 * collection, and a bounded history of changes for watches.
 *
 * Every method is synchronous and atomic; what it returns is a copy.
 */
export class ObjectStore {
  private revision = 0;
  private readonly objects = new Map<string, Map<string, JsonObject>>();
  private history: StoreEvent[] = [];
  private compactedRevision = 0;
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private nextClusterIP = 10;
  /** Set by a simulated kubelet: which deletions are graceful, and for how long. */
  gracePolicy: GracePolicy | undefined;

  constructor(private readonly options: ObjectStoreOptions) {
    for (const t of resourceTypes) this.objects.set(typeId(t), new Map());
  }

  /** The newest resourceVersion written. */
  get resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch may start from (anything older is 410 Gone). */
  get oldestResourceVersion(): number {
    return this.compactedRevision;
  }

  private now(): string {
    return rfc3339(this.options.now?.() ?? new Date());
  }

  private bucket(type: ResourceType): Map<string, JsonObject> {
    return this.objects.get(typeId(type)) as Map<string, JsonObject>;
  }

  private key(type: ResourceType, namespace: string, name: string): string {
    return type.namespaced ? `${namespace}/${name}` : name;
  }

  /** Calls `listener` with every change, synchronously, in resourceVersion order. Returns the unsubscribe. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The changes after `resourceVersion`, oldest first; a 410 Expired when the
   * history no longer reaches back that far.
   */
  eventsSince(resourceVersion: number): StoreEvent[] {
    if (resourceVersion < this.compactedRevision) {
      throw expired(`too old resource version: ${resourceVersion} (${this.compactedRevision})`);
    }
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.history[mid] as StoreEvent).resourceVersion <= resourceVersion) lo = mid + 1;
      else hi = mid;
    }
    return this.history.slice(lo);
  }

  /** Forgets the history, as an etcd compaction does: every earlier resourceVersion becomes too old. */
  compact(): void {
    this.history = [];
    this.compactedRevision = this.revision;
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > this.options.historySize) {
      const dropped = this.history.shift() as StoreEvent;
      this.compactedRevision = dropped.resourceVersion;
    }
    for (const listener of [...this.listeners]) listener(event);
  }

  private commit(
    type: ResourceType,
    kind: StoreEvent["type"],
    next: JsonObject,
    previous: JsonObject | undefined,
  ): JsonObject {
    this.revision += 1;
    const stored = clone(next);
    child(stored, "metadata").resourceVersion = String(this.revision);
    const { name, namespace } = nameOf(stored);
    const key = this.key(type, namespace, name);
    if (kind === "DELETED") this.bucket(type).delete(key);
    else this.bucket(type).set(key, stored);
    this.emit({
      type: kind,
      resourceType: type,
      resourceVersion: this.revision,
      object: clone(stored),
      previous,
    });
    return clone(stored);
  }

  /** The stored object, or undefined. */
  find(type: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const obj = this.bucket(type).get(this.key(type, namespace, name));
    return obj ? clone(obj) : undefined;
  }

  /** The stored object; 404 when it does not exist. */
  get(type: ResourceType, namespace: string, name: string): JsonObject {
    const obj = this.find(type, namespace, name);
    if (!obj) throw notFound(type, name);
    return obj;
  }

  /** The objects the filter selects, sorted by namespace and name (etcd's key order), and the list's resourceVersion. */
  list(type: ResourceType, filter: ObjectFilter = {}): { items: JsonObject[]; resourceVersion: number } {
    const items: JsonObject[] = [];
    const keys = [...this.bucket(type).keys()].sort();
    for (const key of keys) {
      const obj = this.bucket(type).get(key) as JsonObject;
      if (this.matches(type, obj, filter)) items.push(clone(obj));
    }
    return { items, resourceVersion: this.revision };
  }

  /** True when the object is in the filter's namespace and matches its selectors. */
  matches(type: ResourceType, obj: JsonObject, filter: ObjectFilter): boolean {
    const metadata = objectAt(obj, "metadata");
    if (
      type.namespaced &&
      filter.namespace !== undefined &&
      stringAt(metadata, "namespace") !== filter.namespace
    )
      return false;
    if (filter.labelSelector && !matchesLabels(filter.labelSelector, objectAt(metadata, "labels")))
      return false;
    if (filter.fieldSelector && !matchesFields(filter.fieldSelector, obj)) return false;
    return true;
  }

  private checkKind(
    type: ResourceType,
    body: JsonObject,
    expectKind = type.kind,
    expectVersion = apiVersionOf(type),
  ): void {
    const kind = body.kind;
    const apiVersion = body.apiVersion;
    if (
      (kind !== undefined && kind !== expectKind) ||
      (apiVersion !== undefined && apiVersion !== expectVersion)
    ) {
      throw badRequest(
        `the object is ${String(apiVersion ?? "?")}/${String(kind ?? "?")} but this URL serves ${expectVersion}/${expectKind}: send a ${expectKind} of ${expectVersion}`,
      );
    }
  }

  private checkNamespace(type: ResourceType, namespace: string, body: JsonObject): void {
    const bodyNamespace = stringAt(objectAt(body, "metadata"), "namespace");
    if (!type.namespaced) return;
    if (bodyNamespace !== undefined && bodyNamespace !== "" && bodyNamespace !== namespace) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
  }

  private requireNamespace(type: ResourceType, namespace: string): void {
    if (!type.namespaced) return;
    const namespaces = findType("", "v1", "namespaces") as ResourceType;
    const ns = this.bucket(namespaces).get(namespace);
    if (!ns) throw notFound(namespaces, namespace);
    if (objectAt(ns, "metadata")?.deletionTimestamp !== undefined) {
      throw new KubeStatusError(
        403,
        "Forbidden",
        `${type.resource} "${stringAt(objectAt(ns, "metadata"), "name")}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  private defaultAndValidate(type: ResourceType, obj: JsonObject, old: JsonObject | undefined): void {
    applyDefaults(type, obj, { allocateClusterIP: () => this.allocateClusterIP() });
    const error = validateObject(type, obj, old);
    if (error) throw error;
  }

  private allocateClusterIP(): string {
    const n = this.nextClusterIP++;
    return `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
  }

  private writer(type: ResourceType, options: WriteOptions, subresource: Subresource): Writer {
    return {
      manager: options.fieldManager,
      subresource,
      apiVersion: apiVersionOf(type),
      time: this.now(),
    };
  }

  /**
   * Creates an object (POST): name or generateName, the namespace must exist,
   * 409 AlreadyExists for a taken name, status reset, defaults, validation; the
   * creator owns every field it set.
   */
  create(type: ResourceType, namespace: string, body: JsonObject, options: WriteOptions): JsonObject {
    this.checkKind(type, body);
    this.checkNamespace(type, namespace, body);
    return this.insert(type, namespace, body, options, undefined);
  }

  private insert(
    type: ResourceType,
    namespace: string,
    body: JsonObject,
    options: WriteOptions,
    appliedEntries: ManagedEntry[] | undefined,
  ): JsonObject {
    const obj: JsonObject = { ...clone(body), apiVersion: apiVersionOf(type), kind: type.kind };
    const metadata = child(obj, "metadata");
    let name = stringAt(metadata, "name") ?? "";
    const generateName = stringAt(metadata, "generateName");
    if (name === "" && generateName) name = `${generateName}${randomSuffix()}`;
    if (name === "")
      throw invalid(type.kind, type.group, "", [
        {
          reason: "FieldValueRequired",
          field: "metadata.name",
          message: "Required value: name or generateName is required",
        },
      ]);
    metadata.name = name;
    if (type.namespaced) metadata.namespace = namespace;
    else delete metadata.namespace;
    for (const key of [
      "uid",
      "resourceVersion",
      "generation",
      "creationTimestamp",
      "deletionTimestamp",
      "deletionGracePeriodSeconds",
      "managedFields",
      "selfLink",
    ]) {
      delete metadata[key];
    }
    if (type.status) delete obj.status;
    this.requireNamespace(type, namespace);
    if (this.bucket(type).has(this.key(type, namespace, name))) throw alreadyExists(type, name);
    if (type.kind === "Pod") obj.status = { phase: "Pending", qosClass: "BestEffort" };
    this.defaultAndValidate(type, obj, undefined);
    metadata.uid = randomUUID();
    metadata.creationTimestamp = this.now();
    if (type.generation) metadata.generation = 1;
    const entries =
      appliedEntries ?? recordUpdate([], {}, ownedView(type, obj, ""), this.writer(type, options, ""));
    const managed = writeManagedFields(entries);
    if (managed.length > 0) metadata.managedFields = managed;
    if (options.dryRun) return obj;
    return this.commit(type, "ADDED", obj, undefined);
  }

  private checkPreconditions(type: ResourceType, current: JsonObject, body: JsonObject): void {
    const metadata = objectAt(body, "metadata");
    const currentMeta = objectAt(current, "metadata");
    const name = stringAt(currentMeta, "name") ?? "";
    const rv = metadata?.resourceVersion;
    if (
      rv !== undefined &&
      rv !== null &&
      rv !== "" &&
      String(rv) !== stringAt(currentMeta, "resourceVersion")
    ) {
      throw conflict(type, name, staleObjectMessage);
    }
    const uid = metadata?.uid;
    if (uid !== undefined && uid !== null && uid !== "" && uid !== stringAt(currentMeta, "uid")) {
      throw conflict(
        type,
        name,
        `Precondition failed: UID in precondition: ${String(uid)}, UID in object meta: ${stringAt(currentMeta, "uid")}`,
      );
    }
  }

  private checkName(type: ResourceType, name: string, body: JsonObject): void {
    const bodyName = stringAt(objectAt(body, "metadata"), "name");
    if (bodyName !== undefined && bodyName !== name) {
      throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    if (bodyName === undefined && type.kind !== "Scale") {
      // PUT needs the name in the body, as on a real cluster.
      throw badRequest(`the name of the object is missing: set metadata.name to "${name}"`);
    }
  }

  /**
   * Replaces an object (PUT), or its status or scale: 404 when missing, 409
   * Conflict when the body's resourceVersion is not the stored one (no
   * resourceVersion: an unconditional update).
   */
  update(
    type: ResourceType,
    namespace: string,
    name: string,
    body: JsonObject,
    options: WriteOptions,
  ): JsonObject {
    const subresource = options.subresource ?? "";
    const current = this.get(type, namespace, name);
    if (subresource === "scale") return this.updateScale(type, current, body, options);
    this.checkKind(type, body);
    this.checkNamespace(type, namespace, body);
    this.checkName(type, name, body);
    this.checkPreconditions(type, current, body);
    const next = withView(type, current, ownedView(type, body, subresource), subresource);
    return this.replace(type, current, next, options, undefined);
  }

  private updateScale(
    type: ResourceType,
    current: JsonObject,
    body: JsonObject,
    options: WriteOptions,
  ): JsonObject {
    if (!type.scale)
      throw notFound(
        { group: type.group, resource: `${type.resource}/scale` },
        stringAt(objectAt(current, "metadata"), "name") ?? "",
      );
    const name = stringAt(objectAt(current, "metadata"), "name") ?? "";
    this.checkKind(type, body, "Scale", "autoscaling/v1");
    const bodyName = stringAt(objectAt(body, "metadata"), "name");
    if (bodyName !== undefined && bodyName !== name) {
      throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    this.checkPreconditions(type, current, body);
    const replicas = objectAt(body, "spec")?.replicas;
    const error = validateScale(name, replicas);
    if (error) throw error;
    const next = withView(type, current, { spec: { replicas: replicas as JsonValue } }, "scale");
    return scaleOf(this.replace(type, current, next, { ...options, subresource: "scale" }, undefined));
  }

  /** The Scale of a workload (GET .../scale). */
  getScale(type: ResourceType, namespace: string, name: string): JsonObject {
    if (!type.scale) throw notFound({ group: type.group, resource: `${type.resource}/scale` }, name);
    return scaleOf(this.get(type, namespace, name));
  }

  /**
   * Writes `next` over `current`: defaults, validation, generation, field
   * ownership (recorded for the writer unless an apply computed it), a no-op
   * when nothing changed, and deletion once the last finalizer is gone.
   */
  private replace(
    type: ResourceType,
    current: JsonObject,
    next: JsonObject,
    options: WriteOptions,
    appliedEntries: ManagedEntry[] | undefined,
  ): JsonObject {
    const subresource = options.subresource ?? "";
    const metadata = child(next, "metadata");
    const currentMeta = objectAt(current, "metadata") ?? {};
    if (type.kind === "Service") {
      // An update that leaves out the allocated cluster IP keeps it.
      const spec = objectAt(next, "spec");
      const currentSpec = objectAt(current, "spec");
      if (spec && currentSpec && spec.clusterIP === undefined) {
        spec.clusterIP = clone(currentSpec.clusterIP ?? null);
        if (currentSpec.clusterIPs !== undefined) spec.clusterIPs = clone(currentSpec.clusterIPs);
      }
    }
    this.defaultAndValidate(type, next, current);
    if (currentMeta.deletionTimestamp !== undefined) {
      const before = arrayAt(currentMeta, "finalizers");
      const added = arrayAt(metadata, "finalizers").filter((f) => !before.some((b) => deepEqual(b, f)));
      if (added.length > 0) {
        throw invalid(type.kind, type.group, stringAt(currentMeta, "name") ?? "", [
          {
            reason: "FieldValueForbidden",
            field: "metadata.finalizers",
            message: "Forbidden: no new finalizers can be added if the object is being deleted",
          },
        ]);
      }
    }
    if (type.generation) {
      const generation = numberAt(currentMeta, "generation") ?? 1;
      metadata.generation = deepEqual(generationFields(current), generationFields(next))
        ? generation
        : generation + 1;
    }
    const entries =
      appliedEntries ??
      recordUpdate(
        readManagedFields(currentMeta),
        ownedView(type, current, subresource),
        ownedView(type, next, subresource),
        this.writer(type, options, subresource),
      );
    const managed = writeManagedFields(entries);
    if (managed.length > 0) metadata.managedFields = managed;
    else delete metadata.managedFields;
    metadata.resourceVersion = clone(currentMeta.resourceVersion ?? null);
    const unchanged =
      deepEqual(withoutVolatile(current), withoutVolatile(next)) &&
      sameOwnership(readManagedFields(currentMeta), entries);
    if (unchanged || options.dryRun) return unchanged ? current : next;
    const finished =
      metadata.deletionTimestamp !== undefined &&
      arrayAt(metadata, "finalizers").length === 0 &&
      !((numberAt(metadata, "deletionGracePeriodSeconds") ?? 0) > 0);
    if (finished) return this.remove(type, next, "Background");
    return this.commit(type, "MODIFIED", next, current);
  }

  /**
   * Patches an object or its status or scale with a JSON patch, a merge patch
   * or a strategic merge patch; a resourceVersion in the patch is a
   * precondition, as in an update.
   */
  patch(
    type: ResourceType,
    namespace: string,
    name: string,
    contentType: string,
    patch: JsonValue,
    options: WriteOptions,
  ): JsonObject {
    const subresource = options.subresource ?? "";
    const current = this.get(type, namespace, name);
    const target = subresource === "scale" ? this.getScale(type, namespace, name) : current;
    let patched: JsonValue;
    if (contentType === patchTypes.json) patched = jsonPatch(target, patch);
    else if (contentType === patchTypes.merge) patched = mergePatch(target, patch);
    else patched = strategicMergePatch(target, patch);
    if (!isObject(patched)) throw badRequest("the patch did not leave an object");
    if (subresource === "scale") return this.updateScale(type, current, patched, options);
    this.checkKind(type, patched);
    this.checkNamespace(type, namespace, patched);
    this.checkName(type, name, patched);
    this.checkPreconditions(type, current, patched);
    const next = withView(type, current, ownedView(type, patched, subresource), subresource);
    return this.replace(type, current, next, options, undefined);
  }

  /**
   * Server-side apply (PATCH with application/apply-patch+yaml): creates the
   * object when missing, else merges the configuration in with field
   * ownership and conflicts (see `applyConfig`).
   */
  apply(
    type: ResourceType,
    namespace: string,
    name: string,
    config: JsonObject,
    options: WriteOptions,
  ): JsonObject {
    const subresource = options.subresource ?? "";
    const scale = subresource === "scale";
    if (!isObject(config.metadata)) throw badRequest("an applied configuration needs metadata with a name");
    if (config.apiVersion === undefined || config.kind === undefined) {
      throw badRequest(
        "an applied configuration must set apiVersion and kind (e.g. apiVersion: apps/v1, kind: Deployment)",
      );
    }
    if (scale) this.checkKind(type, config, "Scale", "autoscaling/v1");
    else this.checkKind(type, config);
    this.checkNamespace(type, namespace, config);
    const configName = stringAt(config.metadata, "name");
    if (configName !== name) {
      throw badRequest(
        `the name of the object (${configName ?? ""}) does not match the name on the URL (${name})`,
      );
    }
    if (config.metadata.managedFields !== undefined)
      throw badRequest("metadata.managedFields must be nil in an applied configuration");
    const current = this.find(type, namespace, name);
    const writer = this.writer(type, options, subresource);
    if (!current) {
      if (subresource !== "") throw notFound(type, name);
      const { entries } = applyConfig([], {}, ownedView(type, config, ""), writer, false);
      return this.insert(type, namespace, config, options, entries);
    }
    this.checkPreconditions(type, current, config);
    let view: JsonObject;
    if (scale) {
      if (!type.scale) throw notFound({ group: type.group, resource: `${type.resource}/scale` }, name);
      const replicas = objectAt(config, "spec")?.replicas;
      const error = validateScale(name, replicas);
      if (error) throw error;
      view = { spec: { replicas: replicas as JsonValue } };
    } else view = ownedView(type, config, subresource);
    const result = applyConfig(
      readManagedFields(objectAt(current, "metadata")),
      ownedView(type, current, subresource),
      view,
      writer,
      options.force ?? false,
    );
    const next = withView(type, current, result.merged, subresource);
    const written = this.replace(type, current, next, options, result.entries);
    return scale ? scaleOf(written) : written;
  }

  /**
   * Deletes an object: preconditions (uid, resourceVersion), then at once, or
   * marked with a deletionTimestamp while finalizers remain or a pod's
   * graceful period runs. Dependents (ownerReferences) are deleted too, or
   * orphaned with `propagationPolicy: Orphan`.
   */
  delete(type: ResourceType, namespace: string, name: string, options: DeleteOptions = {}): DeleteResult {
    const current = this.get(type, namespace, name);
    const metadata = objectAt(current, "metadata") ?? {};
    const pre = options.preconditions;
    if (pre?.uid !== undefined && pre.uid !== stringAt(metadata, "uid")) {
      throw conflict(
        type,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${stringAt(metadata, "uid")}`,
      );
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== stringAt(metadata, "resourceVersion")) {
      throw conflict(
        type,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${stringAt(metadata, "resourceVersion")}`,
      );
    }
    if (options.dryRun) return { object: current, removed: false };
    const grace = this.gracePolicy?.(type, current, options.gracePeriodSeconds);
    const finalizers = arrayAt(metadata, "finalizers");
    const policy = options.propagationPolicy ?? "Background";
    if (finalizers.length > 0 || (grace !== undefined && grace > 0)) {
      const pending = numberAt(metadata, "deletionGracePeriodSeconds");
      const nextGrace = grace ?? 0;
      if (metadata.deletionTimestamp !== undefined && (pending === undefined || pending <= nextGrace)) {
        return { object: current, removed: false };
      }
      const next = clone(current);
      const nextMeta = child(next, "metadata");
      nextMeta.deletionTimestamp ??= this.now();
      nextMeta.deletionGracePeriodSeconds = nextGrace;
      if (type.generation) nextMeta.generation = (numberAt(nextMeta, "generation") ?? 1) + 1;
      if (finalizers.length === 0 && nextGrace === 0)
        return { object: this.remove(type, next, policy), removed: true };
      return { object: this.commit(type, "MODIFIED", next, current), removed: false };
    }
    return { object: this.remove(type, current, policy), removed: true };
  }

  private remove(
    type: ResourceType,
    obj: JsonObject,
    policy: NonNullable<DeleteOptions["propagationPolicy"]>,
  ): JsonObject {
    const metadata = objectAt(obj, "metadata") ?? {};
    const uid = stringAt(metadata, "uid") ?? "";
    const name = stringAt(metadata, "name") ?? "";
    if (type.kind === "Namespace") {
      for (const t of resourceTypes) {
        if (!t.namespaced) continue;
        for (const item of this.list(t, { namespace: name }).items) {
          if (this.find(t, name, nameOf(item).name)) this.remove(t, item, "Background");
        }
      }
    }
    if (policy === "Foreground")
      this.collectDependents(type, uid, stringAt(metadata, "namespace"), "Background");
    const stored = this.find(type, stringAt(metadata, "namespace") ?? "", name);
    const deleted = this.commit(type, "DELETED", obj, stored ?? obj);
    if (policy !== "Foreground") this.collectDependents(type, uid, stringAt(metadata, "namespace"), policy);
    return deleted;
  }

  /** Garbage collection: dependents whose only owner is gone are deleted (or orphaned: their reference dropped). */
  private collectDependents(
    ownerType: ResourceType,
    uid: string,
    namespace: string | undefined,
    policy: NonNullable<DeleteOptions["propagationPolicy"]>,
  ): void {
    for (const t of resourceTypes) {
      if (ownerType.namespaced && !t.namespaced) continue;
      const filter = ownerType.namespaced && namespace !== undefined ? { namespace } : {};
      for (const item of this.list(t, filter).items) {
        const metadata = objectAt(item, "metadata") ?? {};
        const refs = arrayAt(metadata, "ownerReferences");
        if (!refs.some((r) => isObject(r) && r.uid === uid)) continue;
        const others = refs.filter((r) => isObject(r) && r.uid !== uid);
        const itemNamespace = stringAt(metadata, "namespace") ?? "";
        const itemName = stringAt(metadata, "name") ?? "";
        if (policy === "Orphan" || others.some((r) => isObject(r) && this.ownerExists(r, itemNamespace))) {
          const next = clone(item);
          const nextMeta = child(next, "metadata");
          if (others.length > 0) nextMeta.ownerReferences = others;
          else delete nextMeta.ownerReferences;
          this.replace(t, item, next, { fieldManager: "garbage-collector" }, undefined);
        } else if (this.find(t, itemNamespace, itemName)) {
          this.delete(t, itemNamespace, itemName, { propagationPolicy: "Background" });
        }
      }
    }
  }

  private ownerExists(ref: JsonObject, namespace: string): boolean {
    const apiVersion = stringAt(ref, "apiVersion") ?? "";
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    const t = resourceTypes.find((r) => r.group === group && r.version === version && r.kind === ref.kind);
    if (!t) return false;
    const owner = this.find(t, namespace, stringAt(ref, "name") ?? "");
    return owner !== undefined && stringAt(objectAt(owner, "metadata"), "uid") === ref.uid;
  }

  /** Deletes every object the filter selects (DELETE on a collection). */
  deleteCollection(type: ResourceType, filter: ObjectFilter, options: DeleteOptions = {}): JsonObject[] {
    const deleted: JsonObject[] = [];
    for (const item of this.list(type, filter).items) {
      const { namespace, name } = nameOf(item);
      if (!this.find(type, namespace, name)) continue;
      deleted.push(this.delete(type, namespace, name, options).object);
    }
    return deleted;
  }
}
