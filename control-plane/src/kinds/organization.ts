import { type Organization, OrganizationSchema, Phase } from "@dispatch/proto";
import { binaryCodec, type Kind } from "./kind.js";

/** Organizations: tenants. Global, admin-only, READY as soon as stored. */
export const organizationKind: Kind<Organization> = {
  name: "Organization",
  label: "organization",
  bucket: "organizations",
  schema: OrganizationSchema,
  global: true,
  initialPhase: () => Phase.READY,
  codec: binaryCodec(OrganizationSchema),
  validate(org, v) {
    if ((org.spec?.displayName.length ?? 0) > 200)
      v.add("spec.display_name", "is longer than 200 characters");
  },
};

/** The org every installation has, and that requests without an org use. */
export const defaultOrg = "default";
