import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  CreateTokenResponseSchema,
  DeleteTokenResponseSchema,
  ListTokensResponseSchema,
  Role,
  TokenSchema,
  type TokenService,
  WhoAmIResponseSchema,
} from "@dispatch/proto";
import { principalOf, requireAdmin } from "../auth/principal.js";
import type { TokenRegistry } from "../auth/token-registry.js";
import { checkName, Violations } from "../validation/violations.js";

/**
 * Issues, lists and revokes API tokens (admin only); WhoAmI for anyone.
 * A token is an admin (every org), an org member (one org; the default role)
 * or a component (reads every org, writes status).
 *
 * @param orgUid the uid of an existing org (fails with FailedPrecondition when
 *   there is none); a member token is bound to it.
 */
export function createTokenService(
  tokens: TokenRegistry,
  orgUid: (org: string) => Promise<string>,
): ServiceImpl<typeof TokenService> {
  return {
    async create(request, ctx) {
      requireAdmin(principalOf(ctx), "create tokens");
      const role = request.role === Role.UNSPECIFIED ? Role.ORG_MEMBER : request.role;
      const violations = new Violations();
      checkName(violations, "name", request.name);
      if (role === Role.ORG_MEMBER)
        checkName(violations, "org", request.org === "" ? "default" : request.org);
      if (role === Role.ADMIN && request.org !== "")
        violations.add("org", "admin tokens act in every org; leave org empty");
      if (role === Role.COMPONENT && request.org !== "")
        violations.add("org", "component tokens read every org; leave org empty");
      if (role !== Role.ADMIN && role !== Role.ORG_MEMBER && role !== Role.COMPONENT)
        violations.add("role", `${role} is not a role (use ROLE_ADMIN, ROLE_ORG_MEMBER or ROLE_COMPONENT)`);
      violations.throwIfAny(`token "${request.name}"`);
      const org = role === Role.ORG_MEMBER ? request.org || "default" : "";
      const uid = org === "" ? "" : await orgUid(org);
      if (await tokens.exists(request.name)) {
        throw new ConnectError(`token "${request.name}" already exists`, Code.AlreadyExists);
      }
      const { token, secret } = await tokens.create(request.name, role, org, uid);
      return create(CreateTokenResponseSchema, { token, secret });
    },
    async list(_request, ctx) {
      requireAdmin(principalOf(ctx), "list tokens");
      return create(ListTokensResponseSchema, { items: await tokens.list() });
    },
    async delete(request, ctx) {
      const principal = principalOf(ctx);
      requireAdmin(principal, "revoke tokens");
      const violations = new Violations();
      checkName(violations, "name", request.name);
      violations.throwIfAny("the token name");
      if (request.name === principal.token) {
        throw new ConnectError(
          `token "${request.name}" is the one making this call; revoke it with another admin token`,
          Code.FailedPrecondition,
        );
      }
      const token = await tokens.delete(request.name);
      if (!token) throw new ConnectError(`token "${request.name}" not found`, Code.NotFound);
      return create(DeleteTokenResponseSchema, { token });
    },
    async whoAmI(_request, ctx) {
      const principal = principalOf(ctx);
      return create(WhoAmIResponseSchema, {
        token: create(TokenSchema, { name: principal.token, org: principal.org ?? "", role: principal.role }),
      });
    },
  };
}
