import { type Organization, OrganizationSchema, OrganizationSpecSchema } from "@dispatch/proto";
import { ageColumn, nameColumn, statusColumn } from "./columns.js";
import { type Kind, metaOf } from "./kind.js";
import { resourceOps } from "./resource-ops.js";

/** Organizations (`org`): the tenancy boundary; global, changed by admins. */
export const organizationKind: Kind = {
  kind: "Organization",
  singular: "organization",
  plural: "organizations",
  aliases: ["org", "orgs"],
  manifestAliases: [],
  schema: OrganizationSchema,
  specSchema: OrganizationSpecSchema,
  global: true,
  revealable: false,
  columns: [
    nameColumn,
    { header: "DISPLAY NAME", value: (o) => (o as Organization).spec?.displayName || "-" },
    statusColumn,
    ageColumn,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.organizations, "organization", false),
};
