import { type Secret, SecretSchema, SecretSpecSchema } from "@dispatch/proto";
import { ageColumn, listCell, nameColumn, statusColumn } from "./columns.js";
import { type Kind, metaOf } from "./kind.js";
import { resourceOps } from "./resource-ops.js";

/** Secrets: values shown only when asked for (`--reveal`), never in tables. */
export const secretKind: Kind = {
  kind: "Secret",
  singular: "secret",
  plural: "secrets",
  aliases: [],
  manifestAliases: [],
  schema: SecretSchema,
  specSchema: SecretSpecSchema,
  global: false,
  revealable: true,
  // Values never appear in tables, even with --reveal.
  columns: [
    nameColumn,
    { header: "KEYS", value: (o) => listCell((o as Secret).keys) },
    statusColumn,
    ageColumn,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.secrets, "secret", true),
};
