import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isObject, type JsonObject, type JsonValue, objectAt, stringAt } from "./json.js";
import type { DeleteOptions, ObjectFilter, ObjectStore, WriteOptions } from "./object-store.js";
import type { Subresource } from "./object-views.js";
import { patchTypes } from "./patches.js";
import { decodeBody, mediaType, readBody } from "./request-body.js";
import type { RequestFaults, RequestRecord, Verb } from "./request-faults.js";
import {
  apiGroup,
  apiGroupList,
  apiVersionOf,
  coreVersions,
  findType,
  type ResourceType,
  resourceList,
} from "./resource-types.js";
import { parseFieldSelector, parseLabelSelector } from "./selectors.js";
import {
  badRequest,
  expired,
  KubeStatusError,
  methodNotAllowed,
  unsupportedMediaType,
} from "./status-error.js";
import { type OpenWatch, serveWatch } from "./watch-stream.js";

/** What the request handler is built from. */
export interface ApiHandlerOptions {
  store: ObjectStore;
  /** The bearer token every request must carry. */
  token: string;
  faults: RequestFaults;
  /** How often a watch that allows bookmarks gets one; 0 for never (tests send them with `bookmark()`). */
  bookmarkIntervalMs: number;
  /** The server's own address, for discovery. */
  address: () => string;
  /** Told of every request once answered. */
  record(request: RequestRecord): void;
  /** Told of every watch as it opens; returns what to call when it closes. */
  watchOpened(watch: OpenWatch): () => void;
}

/** Where a resource request goes, parsed from its path. */
interface Target {
  type: ResourceType;
  namespace: string;
  name: string;
  subresource: Subresource;
  legacyWatch: boolean;
}

const writeTypes = ["application/json", "application/yaml", ""];

function notFoundPath(): KubeStatusError {
  return new KubeStatusError(404, "NotFound", "the server could not find the requested resource", {});
}

function parseTarget(path: string): Target | undefined {
  const parts = path
    .split("/")
    .filter((p) => p !== "")
    .map(decodeURIComponent);
  let group = "";
  let version: string;
  let rest: string[];
  if (parts[0] === "api" && parts.length >= 3) {
    version = parts[1] as string;
    rest = parts.slice(2);
  } else if (parts[0] === "apis" && parts.length >= 4) {
    group = parts[1] as string;
    version = parts[2] as string;
    rest = parts.slice(3);
  } else return undefined;
  let legacyWatch = false;
  if (rest[0] === "watch") {
    legacyWatch = true;
    rest = rest.slice(1);
  }
  let namespace = "";
  if (rest[0] === "namespaces" && rest.length >= 3 && rest[2] !== "status" && rest[2] !== "finalize") {
    namespace = rest[1] as string;
    rest = rest.slice(2);
  }
  const [resource = "", name = "", sub = "", ...extra] = rest;
  const type = findType(group, version, resource);
  if (!type || extra.length > 0) return undefined;
  if (type.namespaced !== (namespace !== "") && !(type.namespaced && name === "")) return undefined;
  if (sub !== "" && !((sub === "status" && type.status) || (sub === "scale" && type.scale))) return undefined;
  return { type, namespace, name, subresource: sub as Subresource, legacyWatch };
}

function send(res: ServerResponse, code: number, body: JsonValue): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function flag(query: URLSearchParams, key: string): boolean {
  const value = query.get(key);
  return value === "1" || value === "true";
}

function integerParam(query: URLSearchParams, key: string): number | undefined {
  const value = query.get(key);
  if (value === null || value === "") return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`${key}: "${value}" is not a non-negative integer`);
  return n;
}

function dryRun(query: URLSearchParams): boolean {
  const values = query.getAll("dryRun").filter((v) => v !== "");
  for (const v of values)
    if (v !== "All") throw badRequest(`invalid dry run value "${v}": the only valid value is "All"`);
  return values.length > 0;
}

function fieldManager(query: URLSearchParams, req: IncomingMessage, required: boolean): string {
  const given = query.get("fieldManager");
  if (given !== null && given !== "") {
    if (given.length > 128 || !/^[\x20-\x7e]+$/.test(given)) {
      throw badRequest(
        `fieldManager "${given.slice(0, 140)}" is invalid: use at most 128 printable characters`,
      );
    }
    return given;
  }
  if (required) {
    throw new KubeStatusError(
      422,
      "Invalid",
      "fieldManager: Required value: is required for apply patch (add ?fieldManager=<your controller's name>)",
    );
  }
  // As the real server does, a write without a fieldManager is recorded under its user agent's product name.
  const agent = (req.headers["user-agent"] ?? "unknown").split("/")[0]?.trim() || "unknown";
  return agent.slice(0, 128);
}

/** A page of a list, kept so `continue` reads a consistent snapshot. */
interface ListSnapshot {
  items: JsonObject[];
  resourceVersion: number;
}

/**
 * The HTTP side of the fake API server: authentication, discovery, the
 * resource URL space (`/api/v1/...`, `/apis/<group>/<version>/...`, namespaced
 * and cluster-wide, `/status` and `/scale`), every verb, Status bodies for
 * errors, request faults and the request log.
 */
export function createApiHandler(
  options: ApiHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { store } = options;
  const snapshots = new Map<string, ListSnapshot>();

  const list = (target: Target, query: URLSearchParams, filter: ObjectFilter): JsonObject => {
    const limit = integerParam(query, "limit") ?? 0;
    const token = query.get("continue") ?? "";
    let snapshot: ListSnapshot;
    let offset = 0;
    if (token !== "") {
      const [id = "", at = ""] = token.split(":");
      const kept = snapshots.get(id);
      if (!kept || kept.resourceVersion < store.oldestResourceVersion) {
        throw expired(
          "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        );
      }
      snapshot = kept;
      offset = Number(at);
    } else {
      const rv = query.get("resourceVersion") ?? "";
      const match = query.get("resourceVersionMatch") ?? "";
      if (rv !== "" && rv !== "0") {
        const n = Number(rv);
        if (!Number.isSafeInteger(n)) throw badRequest(`invalid resource version "${rv}"`);
        if (n > store.resourceVersion) {
          throw new KubeStatusError(
            504,
            "Timeout",
            `Too large resource version: ${n}, current: ${store.resourceVersion}`,
            {
              causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
            },
          );
        }
        if (match === "Exact" && n !== store.resourceVersion) {
          throw expired(
            `too old resource version: ${n} (${store.resourceVersion}): this server lists only the latest state`,
          );
        }
      }
      snapshot = store.list(target.type, filter);
    }
    const end = limit > 0 ? Math.min(snapshot.items.length, offset + limit) : snapshot.items.length;
    const metadata: JsonObject = { resourceVersion: String(snapshot.resourceVersion) };
    if (end < snapshot.items.length) {
      const id = token.split(":")[0] || randomUUID();
      snapshots.set(id, snapshot);
      if (snapshots.size > 64) snapshots.delete(snapshots.keys().next().value as string);
      metadata.continue = `${id}:${end}`;
      metadata.remainingItemCount = snapshot.items.length - end;
    }
    // Items of a list carry no kind and apiVersion, as on a real cluster.
    const items = snapshot.items.slice(offset, end).map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    return { kind: `${target.type.kind}List`, apiVersion: apiVersionOf(target.type), metadata, items };
  };

  const deleteOptions = (query: URLSearchParams, body: JsonValue | undefined): DeleteOptions => {
    const out: DeleteOptions = {};
    const fromBody = isObject(body) ? body : {};
    const policy = query.get("propagationPolicy") ?? stringAt(fromBody, "propagationPolicy");
    if (policy !== undefined && policy !== null) {
      if (policy !== "Orphan" && policy !== "Background" && policy !== "Foreground") {
        throw badRequest(`propagationPolicy "${policy}" is not one of Orphan, Background, Foreground`);
      }
      out.propagationPolicy = policy;
    } else if (fromBody.orphanDependents === true || query.get("orphanDependents") === "true") {
      out.propagationPolicy = "Orphan";
    }
    const grace = integerParam(query, "gracePeriodSeconds") ?? fromBody.gracePeriodSeconds;
    if (typeof grace === "number") out.gracePeriodSeconds = grace;
    const pre = objectAt(fromBody, "preconditions");
    if (pre) {
      out.preconditions = {};
      const uid = stringAt(pre, "uid");
      const rv = stringAt(pre, "resourceVersion");
      if (uid !== undefined) out.preconditions.uid = uid;
      if (rv !== undefined) out.preconditions.resourceVersion = rv;
    }
    const dry = dryRun(query) || (Array.isArray(fromBody.dryRun) && fromBody.dryRun.includes("All"));
    if (dry) out.dryRun = true;
    return out;
  };

  const serve = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    record: Partial<RequestRecord>,
    finish: (code: number) => void,
  ): Promise<void> => {
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    if (method === "GET") {
      if (path === "/healthz" || path === "/readyz" || path === "/livez") {
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
        return;
      }
      if (path === "/version")
        return send(res, 200, {
          major: "1",
          minor: "31",
          gitVersion: "v1.31.0-dispatch-fake",
          platform: "linux/amd64",
        });
      if (path === "/api") return send(res, 200, coreVersions(options.address()));
      if (path === "/apis") return send(res, 200, apiGroupList());
      const groupMatch = /^\/apis\/([^/]+)$/.exec(path);
      if (groupMatch) {
        const doc = apiGroup(groupMatch[1] as string);
        if (!doc) throw notFoundPath();
        return send(res, 200, doc);
      }
      const versionMatch = /^\/api\/([^/]+)$|^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
      if (versionMatch) {
        const doc = versionMatch[1]
          ? resourceList("", versionMatch[1])
          : resourceList(versionMatch[2] as string, versionMatch[3] as string);
        if (!doc) throw notFoundPath();
        return send(res, 200, doc);
      }
    }
    const target = parseTarget(path);
    if (!target) throw notFoundPath();
    const query = url.searchParams;
    const { type, namespace, name, subresource } = target;
    const collection = name === "";
    const watching = target.legacyWatch || flag(query, "watch");
    let verb: Verb;
    const contentType = mediaType(req.headers["content-type"]);
    switch (method) {
      case "GET":
        verb = collection ? (watching ? "watch" : "list") : "get";
        break;
      case "POST":
        verb = "create";
        if (!collection)
          throw methodNotAllowed(
            `POST is not allowed on a single ${type.kind}: POST to the collection to create`,
          );
        break;
      case "PUT":
        verb = "update";
        break;
      case "PATCH":
        verb = contentType === patchTypes.apply ? "apply" : "patch";
        break;
      case "DELETE":
        verb = collection ? "deletecollection" : "delete";
        break;
      default:
        throw methodNotAllowed(`method ${method} is not supported`);
    }
    if (collection && (verb === "update" || verb === "patch" || verb === "apply")) {
      throw methodNotAllowed(`${method} needs an object name in the path`);
    }
    Object.assign(record, { verb, resource: type.resource, namespace, name, subresource });
    const fault = options.faults.take({ verb, resource: type.resource, namespace, name, subresource });
    if (fault) throw fault;

    const filter = (): ObjectFilter => ({
      namespace: type.namespaced && namespace !== "" ? namespace : undefined,
      labelSelector: parseLabelSelector(query.get("labelSelector") ?? ""),
      fieldSelector: parseFieldSelector(query.get("fieldSelector") ?? "", type.kind),
    });

    if (verb === "watch") {
      // Logged as it starts (before any event), so the log's order is the order watches began.
      finish(200);
      serveWatch(
        store,
        {
          type,
          filter: filter(),
          resourceVersion: query.get("resourceVersion") ?? undefined,
          allowBookmarks: flag(query, "allowWatchBookmarks"),
          sendInitialEvents: flag(query, "sendInitialEvents"),
          timeoutSeconds: integerParam(query, "timeoutSeconds"),
        },
        res,
        { bookmarkIntervalMs: options.bookmarkIntervalMs, opened: options.watchOpened },
      );
      return;
    }
    if (verb === "list") return send(res, 200, list(target, query, filter()));
    if (verb === "get") {
      return send(
        res,
        200,
        subresource === "scale" ? store.getScale(type, namespace, name) : store.get(type, namespace, name),
      );
    }

    const raw = await readBody(req);
    if (verb === "delete" || verb === "deletecollection") {
      const body = raw.length > 0 ? decodeBody(raw, "application/json") : undefined;
      const opts = deleteOptions(query, body);
      if (verb === "deletecollection") {
        const items = store.deleteCollection(type, filter(), opts);
        return send(res, 200, {
          kind: `${type.kind}List`,
          apiVersion: apiVersionOf(type),
          metadata: { resourceVersion: String(store.resourceVersion) },
          items,
        });
      }
      const { object, removed } = store.delete(type, namespace, name, opts);
      if (removed && type.kind !== "Pod") {
        const uid = stringAt(objectAt(object, "metadata"), "uid") ?? "";
        return send(res, 200, {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Success",
          details: { name, group: type.group, kind: type.resource, uid },
        });
      }
      return send(res, 200, object);
    }

    if (verb === "create" || verb === "update") {
      if (!writeTypes.includes(contentType))
        throw unsupportedMediaType(contentType, ["application/json", "application/yaml"]);
    } else if (!Object.values(patchTypes).includes(contentType as never)) {
      throw unsupportedMediaType(contentType, Object.values(patchTypes));
    }
    const body = decodeBody(raw, contentType);
    if (verb !== "patch" || contentType !== patchTypes.json) {
      if (!isObject(body))
        throw badRequest(
          `the body must be a JSON object (a ${type.kind}), not ${Array.isArray(body) ? "an array" : typeof body}`,
        );
    }
    if (query.has("force") && verb !== "apply")
      throw badRequest("force: Forbidden: may not be specified for non-apply patch");
    const writeOptions: WriteOptions = {
      fieldManager: fieldManager(query, req, verb === "apply"),
      subresource,
      dryRun: dryRun(query),
      force: flag(query, "force"),
    };
    record.fieldManager = writeOptions.fieldManager;
    switch (verb) {
      case "create":
        if (subresource !== "") throw methodNotAllowed("POST is not allowed on a subresource");
        return send(res, 201, store.create(type, namespace, body as JsonObject, writeOptions));
      case "update":
        return send(res, 200, store.update(type, namespace, name, body as JsonObject, writeOptions));
      case "apply": {
        const existed = store.find(type, namespace, name) !== undefined;
        const result = store.apply(type, namespace, name, body as JsonObject, writeOptions);
        return send(res, existed ? 200 : 201, result);
      }
      default:
        return send(res, 200, store.patch(type, namespace, name, contentType, body, writeOptions));
    }
  };

  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://fake-kube");
    const record: Partial<RequestRecord> = {
      fieldManager: url.searchParams.get("fieldManager") ?? undefined,
    };
    let finished = false;
    const finish = (code: number) => {
      if (record.verb === undefined || finished) return;
      finished = true;
      options.record({
        verb: record.verb,
        resource: record.resource ?? "",
        namespace: record.namespace ?? "",
        name: record.name ?? "",
        subresource: record.subresource ?? "",
        fieldManager: record.fieldManager,
        userAgent: req.headers["user-agent"],
        code,
      });
    };
    const fail = (error: unknown) => {
      const status =
        error instanceof KubeStatusError
          ? error
          : new KubeStatusError(500, "InternalError", `Internal error occurred: ${(error as Error).message}`);
      if (!res.headersSent) send(res, status.code, status.toStatus());
      else res.destroy();
      finish(status.code);
    };
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      req.resume();
      send(res, 401, new KubeStatusError(401, "Unauthorized", "Unauthorized").toStatus());
      return;
    }
    serve(req, res, url, record, finish).then(() => finish(res.statusCode), fail);
  };
}
