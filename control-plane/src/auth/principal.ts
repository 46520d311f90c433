import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { Role } from "@dispatch/proto";
import { defaultOrg } from "../kinds/organization.js";
import { checkName, Violations } from "../validation/violations.js";

/**
 * Who is calling: the token that authenticated the request. What each role
 * may do:
 * - admin: everything, in every org;
 * - org member: everything inside its org, but status writes, tokens and organizations;
 * - component (the xds-server, broker, gateway): read every org (never secret
 *   values) and write status; nothing else.
 */
export interface Principal {
  token: string;
  role: Role;
  /** The org of an org member; undefined for admins and components. */
  org: string | undefined;
}

/** Where the auth gate leaves the caller for the handlers. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: "principal" });

/** The authenticated caller of this RPC (the auth gate guarantees there is one). */
export function principalOf(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw new ConnectError("no authenticated caller", Code.Unauthenticated);
  return principal;
}

/** Fails unless the caller is an admin. */
export function requireAdmin(principal: Principal, action: string): void {
  if (principal.role !== Role.ADMIN) {
    throw new ConnectError(
      `token "${principal.token}" may not ${action}: that needs an admin token`,
      Code.PermissionDenied,
    );
  }
}

/**
 * Fails with InvalidArgument unless `org` (a request's `org` field, or
 * `meta.org`) is empty or a valid name. An org becomes part of NATS subjects
 * and keys, so wildcards ("*", ">"), dots and spaces must never reach the store.
 */
export function checkOrgField(field: string, org: string): void {
  if (org === "") return;
  const violations = new Violations();
  checkName(violations, field, org);
  violations.throwIfAny(`the ${field} field`);
}

/**
 * The org a request that changes something (creates, updates, deletes,
 * uploads, runs) acts in: the one it names, else the caller's own (admins
 * default to "default"). The name is validated first; members may act only in
 * their own org, components in none.
 *
 * @param action what the request does, for the message a component gets ("create functions").
 */
export function resolveOrg(
  principal: Principal,
  requested: string,
  field = "org",
  action = "do that",
): string {
  checkOrgField(field, requested);
  if (principal.role === Role.COMPONENT) {
    throw new ConnectError(
      `token "${principal.token}" is a component token and may not ${action}: components read and write status only; use an admin or org member token`,
      Code.PermissionDenied,
    );
  }
  return orgInReach(principal, requested);
}

/**
 * The org a read (Get, List, Watch, logs) acts in: like {@link resolveOrg},
 * but components may read every org.
 */
export function resolveReadOrg(principal: Principal, requested: string, field = "org"): string {
  checkOrgField(field, requested);
  return orgInReach(principal, requested);
}

/** Whether the caller reads every org (admins and components) rather than its own only. */
export function readsEveryOrg(principal: Principal): boolean {
  return principal.role === Role.ADMIN || principal.role === Role.COMPONENT;
}

/** Fails unless the caller may write status (UpdateStatus): admins and components. */
export function requireStatusWriter(principal: Principal, what: string): void {
  if (principal.role !== Role.ADMIN && principal.role !== Role.COMPONENT) {
    throw new ConnectError(
      `token "${principal.token}" may not write the status of ${what}: that needs a component or admin token (status is written by the platform's components)`,
      Code.PermissionDenied,
    );
  }
}

/**
 * Fails unless the caller may deliver events to functions (RunService.Create
 * with an event): the event broker's component token, or an admin.
 */
export function requireEventDeliverer(principal: Principal): void {
  if (principal.role !== Role.ADMIN && principal.role !== Role.COMPONENT) {
    throw new ConnectError(
      `token "${principal.token}" may not deliver events (run.spec.event): that needs a component or admin token (events reach functions through the platform's broker)`,
      Code.PermissionDenied,
    );
  }
}

/** Fails when the caller may not read secret values (components never may). */
export function requireSecretReader(principal: Principal): void {
  if (principal.role === Role.COMPONENT) {
    throw new ConnectError(
      `token "${principal.token}" is a component token and may not read secret values; leave reveal unset`,
      Code.PermissionDenied,
    );
  }
}

function orgInReach(principal: Principal, requested: string): string {
  const org = requested !== "" ? requested : (principal.org ?? defaultOrg);
  if (!readsEveryOrg(principal) && org !== principal.org) {
    throw new ConnectError(
      `token "${principal.token}" belongs to org "${principal.org}" and cannot access org "${org}"`,
      Code.PermissionDenied,
    );
  }
  return org;
}
