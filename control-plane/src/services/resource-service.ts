import { randomUUID } from "node:crypto";
import { clone, create, type DescMessage, type DescService, equals, type Message } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { type ListOptions, ObjectMetaSchema, Phase, Role, WatchEventType } from "@dispatch/proto";
import {
  checkOrgField,
  type Principal,
  principalOf,
  readsEveryOrg,
  requireAdmin,
  requireSecretReader,
  requireStatusWriter,
  resolveOrg,
  resolveReadOrg,
} from "../auth/principal.js";
import type { Kind, Resource, ResourceStatus } from "../kinds/kind.js";
import { RevisionConflictError } from "../store/errors.js";
import type { ResourceStore } from "../store/resource-store.js";
import { checkName, Violations } from "../validation/violations.js";
import { checkStatus, stampTransitions } from "./status-write.js";

/** What the generic service needs besides the kind and its store. */
export interface ResourceServiceOptions<T extends Resource> {
  kind: Kind<T>;
  store: ResourceStore<T>;
  /** Fails with FailedPrecondition when objects may not be created in `org`. */
  checkOrg(org: string): Promise<void>;
  /** Fails with FailedPrecondition when the object may not be deleted. */
  checkDelete?(object: T): Promise<void>;
  /** Removes what belongs to a deleted object (e.g. a function's runs) before Delete returns. */
  afterDelete?(object: T): Promise<void>;
  /**
   * Checks that need I/O (e.g. that a referenced bundle exists, that no other
   * endpoint serves the route); adds to `violations`. `at` is where the object
   * goes (its org resolved: the object's own may be empty).
   */
  validateAsync?(object: T, violations: Violations, at: { org: string; name: string }): Promise<void>;
  /**
   * Whether a component may Get this object revealed (`reveal: true`), which
   * components otherwise never may: e.g. the xds-server reading a secret an
   * endpoint names as its token secret. Default never.
   */
  componentMayReveal?(at: { org: string; name: string }): Promise<boolean>;
  /** Shapes an object for a response (e.g. hides secret values unless `reveal`). */
  present?(object: T, request: { reveal?: boolean }): T;
  /** List page sizes: the default when a request names none, and the most one page holds. */
  pageSize?: PageSize;
}

/** How many items a List page holds. */
export interface PageSize {
  /** When the request leaves page_size 0; default 500. */
  default: number;
  /** The most a page holds whatever the request asks; default 1000. */
  max: number;
}

/** The page sizes every List uses unless told otherwise. */
export const defaultPageSize: PageSize = { default: 500, max: 1000 };

/** The page size a List request gets: its own, bounded, or the default. */
export function pageSizeFor(requested: number | undefined, sizes: PageSize = defaultPageSize): number {
  return Math.min(requested || sizes.default, sizes.max);
}

/** Request fields the generic handlers read; every kind's requests have these names. */
interface AnyRequest extends Message {
  [field: string]: unknown;
  org?: string;
  name?: string;
  revision?: bigint;
  options?: ListOptions;
  resumeRevision?: bigint;
  reveal?: boolean;
  allOrgs?: boolean;
}

/**
 * Implements a kind's Create/Get/List/Update/UpdateStatus/Delete/Watch service
 * on a {@link ResourceStore}. Every kind's service has the same shape, so one
 * implementation serves them all; the {@link Kind} supplies the differences.
 *
 * Clients own the spec (Create, Update) and the platform's components own the
 * status (UpdateStatus, admin and component tokens only): neither verb
 * touches what the other owns. Errors are mapped to Connect codes by the
 * error interceptor the server installs (`createErrorInterceptor`, server-kit).
 */
export function createResourceService<T extends Resource>(
  service: DescService,
  options: ResourceServiceOptions<T>,
): Partial<ServiceImpl<DescService>> {
  const { kind, store } = options;
  const present = (object: T, request: AnyRequest) =>
    options.present ? options.present(object, request) : object;
  const what = (name: string, org: string) =>
    kind.global ? `${kind.label} "${name}"` : `${kind.label} "${name}" in org "${org}"`;
  const notFound = (name: string, org: string) =>
    kind.global ? `${kind.label} "${name}" not found` : `${kind.label} "${name}" not found in org "${org}"`;
  const keyOf = (org: string, name: string) => (kind.global ? name : `${org}.${name}`);

  /** The field of a request or response message that holds the kind's object. */
  const objectField = (message: DescMessage) => {
    const field = message.fields.find((f) => f.message?.typeName === kind.schema.typeName);
    if (!field) throw new Error(`${message.typeName} has no ${kind.name} field`);
    return field.localName;
  };
  const method = (name: string) => {
    const m = service.methods.find((x) => x.name === name);
    if (!m) throw new Error(`${service.typeName} has no method ${name}`);
    return m;
  };
  const respond = (name: string, object: T, request: AnyRequest) => {
    const m = method(name);
    return create(m.output, { [objectField(m.output)]: present(object, request) } as never);
  };

  /**
   * The org a request acts in, checked against the caller: reads (and status
   * writes) may reach every org for admins and components; changes only for
   * admins and the org's members. Global kinds have none.
   */
  const orgFor = (principal: Principal, requested: string, access: "read" | "write", field = "org") => {
    if (kind.global) {
      checkOrgField(field, requested);
      return "";
    }
    return access === "read"
      ? resolveReadOrg(principal, requested, field)
      : resolveOrg(principal, requested, field, `change ${kind.label}s`);
  };

  /**
   * For global kinds (organizations): the one object a member may read, the
   * one named after its own org; undefined for admins (every object). Members
   * never learn which other orgs exist.
   */
  const ownOnly = (principal: Principal): string | undefined =>
    kind.global && !readsEveryOrg(principal) ? (principal.org ?? "") : undefined;
  const requireReadable = (principal: Principal, name: string) => {
    const own = ownOnly(principal);
    if (own !== undefined && name !== own) {
      throw new ConnectError(
        `token "${principal.token}" belongs to org "${own}" and cannot read ${kind.label} "${name}"`,
        Code.PermissionDenied,
      );
    }
  };

  /** Secret values go only to callers that may read them (never to components). */
  const requireReveal = (principal: Principal, request: AnyRequest) => {
    if (request.reveal === true) requireSecretReader(principal);
  };

  /** Validates a Create/Update body: every problem at once, nothing written on failure. */
  const validateBody = async (request: AnyRequest, principal: Principal, verb: string) => {
    const field = objectField(method(verb).input);
    const object = request[field] as T | undefined;
    if (!object) {
      throw new ConnectError(
        `the request has no ${kind.label}: set the "${field}" field`,
        Code.InvalidArgument,
      );
    }
    const meta = object.meta ?? create(ObjectMetaSchema);
    const name = meta.name;
    const violations = new Violations();
    checkName(violations, "meta.name", name);
    let org = "";
    if (meta.org !== "") checkName(violations, "meta.org", meta.org);
    if (!kind.global) {
      org = violations.list.some((v) => v.field === "meta.org")
        ? meta.org
        : orgFor(principal, meta.org, "write", "meta.org");
    }
    kind.prepare?.(object);
    kind.validate(object, violations, { org });
    if (violations.empty) await options.validateAsync?.(object, violations, { org, name });
    violations.throwIfAny(name === "" ? `the ${kind.label}` : `${kind.label} "${name}"`);
    return { object, meta, name, org };
  };

  /**
   * Components never change objects; global kinds are changed by admins only.
   * The org field is checked first, so a hostile value is InvalidArgument
   * whoever sends it.
   */
  const requireWrite = (principal: Principal, request: AnyRequest, verb: string) => {
    if (verb === "Delete") {
      checkOrgField("org", request.org ?? "");
    } else {
      const body = request[objectField(method(verb).input)] as T | undefined;
      checkOrgField("meta.org", body?.meta?.org ?? "");
    }
    if (principal.role === Role.COMPONENT) {
      throw new ConnectError(
        `token "${principal.token}" is a component token and may not ${verb.toLowerCase()} ${kind.label}s: components read and write status only; use an admin or org member token`,
        Code.PermissionDenied,
      );
    }
    if (kind.global) requireAdmin(principal, `change ${kind.label}s`);
  };

  return {
    async create(request: AnyRequest, ctx: HandlerContext) {
      const principal = principalOf(ctx);
      requireWrite(principal, request, "Create");
      const { object, meta, name, org } = await validateBody(request, principal, "Create");
      if (!kind.global) await options.checkOrg(org);
      const now = timestampNow();
      // Only the spec comes from the client: meta and status are the server's,
      // and so is any other field (e.g. a secret's keys).
      const stored = ownFields(kind, object);
      stored.meta = create(ObjectMetaSchema, {
        name,
        org,
        uid: randomUUID(),
        generation: 1n,
        tags: meta.tags,
        created: now,
        modified: now,
      });
      stored.status = initialStatus(kind, object, 1n);
      const revision = await store.create(keyOf(org, name), stored, what(name, org));
      withRevision(stored, revision);
      return respond("Create", stored, request);
    },

    async get(request: AnyRequest, ctx: HandlerContext) {
      const principal = principalOf(ctx);
      const org = orgFor(principal, request.org ?? "", "read");
      const name = requireName(request.name ?? "", kind.label);
      requireReadable(principal, name);
      const granted =
        request.reveal === true &&
        principal.role === Role.COMPONENT &&
        (await options.componentMayReveal?.({ org, name }));
      if (!granted) requireReveal(principal, request);
      const found = await store.mustGet(keyOf(org, name), notFound(name, org));
      return respond("Get", withRevision(found.object, found.revision), request);
    },

    async list(request: AnyRequest, ctx: HandlerContext) {
      const principal = principalOf(ctx);
      const org = orgFor(principal, request.org ?? "", "read");
      requireReveal(principal, request);
      const own = ownOnly(principal);
      const { items, revision } = await store.list(kind.global ? (own ?? "*") : `${org}.*`);
      const tags = request.options?.tags ?? {};
      const pageSize = pageSizeFor(request.options?.pageSize, options.pageSize);
      const after = request.options?.pageToken ?? "";
      const matching = items
        .map((item) => withRevision(item.object, item.revision))
        .filter((object) => hasTags(object, tags) && (object.meta?.name ?? "") > after);
      const page = matching.slice(0, pageSize);
      const next = matching.length > pageSize ? (page.at(-1)?.meta?.name ?? "") : "";
      return create(method("List").output, {
        items: page.map((object) => present(object, request)),
        revision: BigInt(revision),
        nextPageToken: next,
      } as never);
    },

    async update(request: AnyRequest, ctx: HandlerContext) {
      const principal = principalOf(ctx);
      requireWrite(principal, request, "Update");
      const { object, meta, name, org } = await validateBody(request, principal, "Update");
      const key = keyOf(org, name);
      const expected = meta.revision;
      // Without a revision the update applies to whatever is current (last
      // writer wins); the store's compare-and-set still keeps status writes.
      for (let attempt = 0; ; attempt++) {
        const current = await store.mustGet(key, notFound(name, org));
        if (expected !== 0n && BigInt(current.revision) !== expected) {
          throw new ConnectError(
            `${what(name, org)} was changed by someone else: you sent revision ${expected}, the current one is ${current.revision}; read it again and retry`,
            Code.Aborted,
          );
        }
        const next = nextVersion(kind, current.object, object, meta.tags);
        try {
          const revision = await store.update(key, next, current.revision, what(name, org));
          return respond("Update", withRevision(next, revision), request);
        } catch (err) {
          if (expected !== 0n || attempt >= 5 || !(err instanceof RevisionConflictError)) throw err;
        }
      }
    },

    async updateStatus(request: AnyRequest, ctx: HandlerContext) {
      const principal = principalOf(ctx);
      const field = objectField(method("UpdateStatus").input);
      const object = request[field] as T | undefined;
      if (!object) {
        throw new ConnectError(
          `the request has no ${kind.label}: set the "${field}" field (its meta and status)`,
          Code.InvalidArgument,
        );
      }
      const meta = object.meta ?? create(ObjectMetaSchema);
      checkOrgField("meta.org", meta.org);
      const name = requireName(meta.name, kind.label, "meta.name");
      requireStatusWriter(principal, `${kind.label}s`);
      const org = orgFor(principal, meta.org, "read", "meta.org");
      const current = await store.mustGet(keyOf(org, name), notFound(name, org));
      const generation = current.object.meta?.generation ?? 0n;
      const violations = new Violations();
      if (meta.revision === 0n) {
        violations.add(
          "meta.revision",
          `is required: a status write applies to the version it was computed from; send the revision you read (now ${current.revision})`,
        );
      }
      if (!object.status) violations.add("status", "is required");
      else checkStatus(object.status, generation, violations);
      violations.throwIfAny(`the status of ${what(name, org)}`);
      if (BigInt(current.revision) !== meta.revision) {
        throw new ConnectError(
          `the status of ${what(name, org)} was not written: the ${kind.label} changed after revision ${meta.revision} (it is at ${current.revision} now); read it again and write the status for what you read`,
          Code.Aborted,
        );
      }
      // Only the status changes: spec and meta (generation included) stay as stored.
      const next = clone(kind.schema, current.object) as T;
      const status = statusOf(kind, object.status as ResourceStatus);
      stampTransitions(status.conditions, current.object.status?.conditions ?? [], timestampNow());
      next.status = status;
      const revision = await store.update(keyOf(org, name), next, current.revision, what(name, org));
      return respond("UpdateStatus", withRevision(next, revision), request);
    },

    async delete(request: AnyRequest, ctx: HandlerContext) {
      const principal = principalOf(ctx);
      requireWrite(principal, request, "Delete");
      const org = orgFor(principal, request.org ?? "", "write");
      const name = requireName(request.name ?? "", kind.label);
      const key = keyOf(org, name);
      const expected = request.revision ?? 0n;
      let current = await store.mustGet(key, notFound(name, org));
      // A delete without a revision is unconditional: a status write by a
      // reconciler between the read and the delete is no reason to refuse it.
      for (let attempt = 1; ; attempt++) {
        if (expected !== 0n && BigInt(current.revision) !== expected) {
          throw new ConnectError(
            `${what(name, org)} was changed by someone else: you sent revision ${expected}, the current one is ${current.revision}`,
            Code.Aborted,
          );
        }
        await options.checkDelete?.(current.object);
        try {
          await store.delete(key, current.revision, what(name, org));
          break;
        } catch (err) {
          if (!(err instanceof RevisionConflictError) || expected !== 0n || attempt >= 5) throw err;
          current = await store.mustGet(key, notFound(name, org));
        }
      }
      await options.afterDelete?.(current.object);
      const deleted = withRevision(current.object, current.revision);
      if (deleted.status) deleted.status.phase = Phase.DELETING;
      return respond("Delete", deleted, request);
    },

    watch: async function* (request: AnyRequest, ctx: HandlerContext) {
      const principal = principalOf(ctx);
      const name = request.name ?? "";
      // Every org at once, for the platform's components (and admins).
      const everyOrg = !kind.global && request.allOrgs === true;
      if (everyOrg) requireEveryOrgWatch(principal, request.org ?? "", name, kind.label);
      const org = everyOrg ? "" : orgFor(principal, request.org ?? "", "read");
      if (name !== "") requireName(name, kind.label);
      if (name !== "") requireReadable(principal, name);
      requireReveal(principal, request);
      const own = ownOnly(principal);
      const filter = kind.global ? name || (own ?? "*") : everyOrg ? "*.*" : `${org}.${name || "*"}`;
      const tags = request.options?.tags ?? {};
      const output = method("Watch").output;
      const resumeAfter = Number(request.resumeRevision ?? 0n);
      for await (const event of store.watch(filter, { resumeAfter, signal: ctx.signal })) {
        if (event.type === "synced") {
          yield create(output, { type: WatchEventType.SYNCED, revision: BigInt(event.revision) } as never);
        } else if (event.type === "deleted") {
          const dot = event.key.indexOf(".");
          const objectOrg = everyOrg ? event.key.slice(0, dot) : org;
          const objectName = kind.global ? event.key : event.key.slice(objectOrg.length + 1);
          const object = create(kind.schema, {
            meta: create(ObjectMetaSchema, {
              name: objectName,
              org: objectOrg,
              revision: BigInt(event.revision),
            }),
          } as never);
          yield create(output, {
            type: WatchEventType.DELETED,
            object,
            revision: BigInt(event.revision),
          } as never);
        } else if (hasTags(event.object, tags)) {
          yield create(output, {
            type: event.type === "added" ? WatchEventType.ADDED : WatchEventType.MODIFIED,
            object: present(withRevision(event.object, event.revision), request),
            revision: BigInt(event.revision),
          } as never);
        }
      }
    },
  } as unknown as Partial<ServiceImpl<DescService>>;
}

/** Checks a Watch with `all_orgs`: admins and components only, without an org or a name. */
function requireEveryOrgWatch(principal: Principal, org: string, name: string, label: string): void {
  if (!readsEveryOrg(principal)) {
    throw new ConnectError(
      `token "${principal.token}" may not watch ${label}s of every org (all_orgs): that needs an admin or component token; name your org instead`,
      Code.PermissionDenied,
    );
  }
  if (org !== "" || name !== "") {
    throw new ConnectError(
      `a watch of every org (all_orgs) follows every ${label}: leave org and name empty, or drop all_orgs`,
      Code.InvalidArgument,
    );
  }
}

/** A new object of the kind holding only what a client may set: a copy of the spec. */
function ownFields<T extends Resource>(kind: Kind<T>, requested: T): T {
  const object = create(kind.schema) as T;
  if (requested.spec) object.spec = clone(specSchemaOf(kind), requested.spec);
  return object;
}

function specSchemaOf<T extends Resource>(kind: Kind<T>): DescMessage {
  const schema = kind.schema.fields.find((f) => f.localName === "spec")?.message;
  if (!schema) throw new Error(`${kind.schema.typeName} has no spec message`);
  return schema;
}

function requireName(name: string, label: string, field = "name"): string {
  const violations = new Violations();
  checkName(violations, field, name);
  violations.throwIfAny(`the ${label} name`);
  return name;
}

function withRevision<T extends Resource>(object: T, revision: number): T {
  if (object.meta) object.meta.revision = BigInt(revision);
  return object;
}

function hasTags(object: Resource, tags: Record<string, string>): boolean {
  const own = object.meta?.tags ?? {};
  return Object.entries(tags).every(([k, v]) => own[k] === v);
}

/** Builds a status message of the kind's own status type. */
function statusOf<T extends Resource>(kind: Kind<T>, init: ResourceStatus): ResourceStatus {
  const schema = kind.schema.fields.find((f) => f.localName === "status")?.message;
  if (!schema) throw new Error(`${kind.schema.typeName} has no status message`);
  return create(schema, init as never) as unknown as ResourceStatus;
}

function initialStatus<T extends Resource>(kind: Kind<T>, object: T, generation: bigint): ResourceStatus {
  const phase = kind.initialPhase(object);
  return statusOf(kind, {
    phase,
    conditions: [],
    reason: [],
    // A kind that is READY when stored has nothing left to observe.
    observedGeneration: phase === Phase.READY ? generation : 0n,
  });
}

/** The object an update stores: the new spec and tags, the server's meta, the status carried over. */
function nextVersion<T extends Resource>(
  kind: Kind<T>,
  current: T,
  requested: T,
  tags: Record<string, string>,
): T {
  const currentMeta = current.meta ?? create(ObjectMetaSchema);
  const specSchema = kind.schema.fields.find((f) => f.localName === "spec")?.message;
  const specChanged =
    specSchema !== undefined &&
    !equals(
      specSchema,
      (current.spec ?? create(specSchema)) as never,
      (requested.spec ?? create(specSchema)) as never,
    );
  const generation = specChanged ? currentMeta.generation + 1n : currentMeta.generation;
  const next = ownFields(kind, requested);
  next.meta = create(ObjectMetaSchema, {
    name: currentMeta.name,
    org: currentMeta.org,
    uid: currentMeta.uid,
    created: currentMeta.created,
    tags,
    generation,
    modified: timestampNow(),
  });
  next.status = specChanged ? updatedStatus(kind, requested, current, generation) : current.status;
  return next;
}

function updatedStatus<T extends Resource>(kind: Kind<T>, requested: T, current: T, generation: bigint) {
  const phase = kind.initialPhase(requested);
  const status = current.status;
  return statusOf(kind, {
    phase: phase === Phase.READY ? Phase.READY : Phase.UPDATING,
    conditions: status?.conditions ?? [],
    reason: [],
    observedGeneration: phase === Phase.READY ? generation : (status?.observedGeneration ?? 0n),
  });
}
