import type { JsonObject } from "./json.js";

/** One cause inside a Status's details (a field that is invalid, a conflicting field manager). */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

/** What a Status names: the object's name, its API group and kind (or resource), and causes. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

/**
 * A failed API call, answered as the real API server answers: a `Status`
 * object (kind Status, status Failure, a reason such as NotFound, an HTTP code
 * and details) with the same HTTP status. Clients, client-node's ApiException
 * among them, read `code` and `reason` from it.
 */
export class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = "KubeStatusError";
  }

  /** The `Status` body for the wire. */
  toStatus(): JsonObject {
    const status: JsonObject = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
    };
    if (this.details) status.details = JSON.parse(JSON.stringify(this.details)) as JsonObject;
    status.code = this.code;
    return status;
  }
}

/** How Status messages name a resource: `pods`, `deployments.apps`. */
export interface ResourceName {
  group: string;
  resource: string;
}

function qualified(r: ResourceName): string {
  return r.group === "" ? r.resource : `${r.resource}.${r.group}`;
}

/** 404: the object does not exist. */
export function notFound(r: ResourceName, name: string): KubeStatusError {
  return new KubeStatusError(404, "NotFound", `${qualified(r)} "${name}" not found`, {
    name,
    group: r.group,
    kind: r.resource,
  });
}

/** 409 AlreadyExists: create of a name that exists. */
export function alreadyExists(r: ResourceName, name: string): KubeStatusError {
  return new KubeStatusError(409, "AlreadyExists", `${qualified(r)} "${name}" already exists`, {
    name,
    group: r.group,
    kind: r.resource,
  });
}

/** 409 Conflict: a write whose precondition (resourceVersion, uid) does not hold. */
export function conflict(r: ResourceName, name: string, why: string): KubeStatusError {
  return new KubeStatusError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`,
    {
      name,
      group: r.group,
      kind: r.resource,
    },
  );
}

/** The message of a stale-resourceVersion conflict, as the real server words it. */
export const staleObjectMessage =
  "the object has been modified; please apply your changes to the latest version and try again";

/** 422 Invalid: the object breaks a validation rule; one cause per field. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): KubeStatusError {
  const what = group === "" ? kind : `${kind}.${group}`;
  const list = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const message =
    list.length === 1
      ? `${what} "${name}" is invalid: ${list[0]}`
      : `${what} "${name}" is invalid: [${list.join(", ")}]`;
  return new KubeStatusError(422, "Invalid", message, { name, group, kind, causes });
}

/** 400 BadRequest. */
export function badRequest(message: string): KubeStatusError {
  return new KubeStatusError(400, "BadRequest", message);
}

/** 410 Gone (reason Expired): a resourceVersion or continue token older than the history kept. */
export function expired(message: string): KubeStatusError {
  return new KubeStatusError(410, "Expired", message);
}

/** 405 MethodNotAllowed. */
export function methodNotAllowed(message: string): KubeStatusError {
  return new KubeStatusError(405, "MethodNotAllowed", message);
}

/** 415 UnsupportedMediaType. */
export function unsupportedMediaType(contentType: string, supported: readonly string[]): KubeStatusError {
  return new KubeStatusError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: ${supported.join(", ")} (got "${contentType}")`,
  );
}
