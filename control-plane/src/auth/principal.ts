import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { Role } from "@dispatch/proto";
import { defaultOrg } from "../kinds/organization.js";
import { checkName, Violations } from "../validation/violations.js";

/** Who is calling: the token that authenticated the request. */
export interface Principal {
  token: string;
  role: Role;
  /** The org of an org member; undefined for admins. */
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
 * The org a request acts in: the one it names, else the caller's own (admins
 * default to "default"). The name is validated first; members may act only in
 * their own org.
 */
export function resolveOrg(principal: Principal, requested: string, field = "org"): string {
  checkOrgField(field, requested);
  const org = requested !== "" ? requested : (principal.org ?? defaultOrg);
  if (principal.role !== Role.ADMIN && org !== principal.org) {
    throw new ConnectError(
      `token "${principal.token}" belongs to org "${principal.org}" and cannot access org "${org}"`,
      Code.PermissionDenied,
    );
  }
  return org;
}
