import type { Subresource } from "./object-views.js";
import type { KubeStatusError } from "./status-error.js";

/** The verb of an API request, as RBAC and audit logs name them (`apply` is a PATCH with apply-patch). */
export type Verb =
  | "get"
  | "list"
  | "watch"
  | "create"
  | "update"
  | "patch"
  | "apply"
  | "delete"
  | "deletecollection";

/** One API request, as the fake's request log keeps it. */
export interface RequestRecord {
  verb: Verb;
  /** Plural resource name: `deployments`. */
  resource: string;
  namespace: string;
  name: string;
  subresource: Subresource;
  /** The `fieldManager` parameter, when given. */
  fieldManager: string | undefined;
  /** The client's `User-Agent` header, when it sent one. */
  userAgent: string | undefined;
  /** The HTTP status of the answer (200 for a watch, even one that reports 410 in an ERROR event). */
  code: number;
}

/** Which requests a fault applies to; every field given must match. */
export interface RequestMatch {
  verb?: Verb;
  resource?: string;
  namespace?: string;
  name?: string;
  subresource?: Subresource;
}

interface Fault {
  match: RequestMatch;
  error: KubeStatusError;
  remaining: number;
}

/** Faults a test injects: matching requests are answered with an error instead of being served. */
export class RequestFaults {
  private faults: Fault[] = [];

  /** Answers the next `times` (default 1) requests matching `match` with `error`. */
  fail(match: RequestMatch, error: KubeStatusError, times = 1): void {
    this.faults.push({ match, error, remaining: times });
  }

  /** The error for this request, if a fault takes it (counting it down). */
  take(request: Omit<RequestRecord, "code" | "fieldManager" | "userAgent">): KubeStatusError | undefined {
    const fault = this.faults.find((f) =>
      (Object.keys(f.match) as (keyof RequestMatch)[]).every((key) => f.match[key] === request[key]),
    );
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults = this.faults.filter((f) => f !== fault);
    return fault.error;
  }

  /** Drops every pending fault. */
  clear(): void {
    this.faults = [];
  }
}
