import { Code, ConnectError } from "@connectrpc/connect";
import { Role, type Token, TokenSchema } from "@dispatch/proto";
import { formatAge } from "../output/time.js";
import type { Kind } from "./kind.js";

/** A token role as users read it: `ADMIN`, `ORG_MEMBER`. */
export function roleName(role: Role): string {
  return role === Role.UNSPECIFIED ? "-" : (Role[role] ?? String(role));
}

/** API tokens: global, listed without their secrets, never updated. */
export const tokenKind: Kind = {
  kind: "Token",
  singular: "token",
  plural: "tokens",
  aliases: [],
  manifestAliases: [],
  schema: TokenSchema,
  global: true,
  revealable: false,
  columns: [
    { header: "NAME", value: (o) => (o as Token).name },
    { header: "ORG", value: (o) => (o as Token).org || "*" },
    { header: "ROLE", value: (o) => roleName((o as Token).role) },
    { header: "AGE", value: (o, now) => formatAge((o as Token).created, now) },
  ],
  nameOf: (o) => (o as Token).name,
  ops: (c) => ({
    // TokenService has no Get: tokens are few, so find the one in the list.
    async get(ref) {
      const { items } = await c.tokens.list({});
      const token = items.find((t) => t.name === ref.name);
      if (!token) throw new ConnectError(`token "${ref.name}" not found`, Code.NotFound);
      return token;
    },
    list: async () => (await c.tokens.list({})).items,
    async delete(ref) {
      const { token } = await c.tokens.delete({ name: ref.name });
      if (!token) throw new ConnectError("the server's response has no token", Code.Internal);
      return token;
    },
  }),
};
