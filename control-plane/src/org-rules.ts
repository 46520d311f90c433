import { Code, ConnectError } from "@connectrpc/connect";
import type { Resource } from "./kinds/kind.js";
import { defaultOrg } from "./kinds/organization.js";
import type { ResourceStore } from "./store/resource-store.js";

/** What organizations require of the resources in them. */
export interface OrgRules {
  /** Fails with FailedPrecondition when `org` does not exist. */
  checkOrg(org: string): Promise<void>;
  /** The uid of `org`; fails like {@link checkOrg} when it does not exist. */
  orgUid(org: string): Promise<string>;
  /** Fails with FailedPrecondition when the org is "default" or still holds resources. */
  checkOrgDelete(org: Resource): Promise<void>;
}

/** Org rules over the organizations store and the stores of namespaced kinds. */
export function createOrgRules(
  organizations: ResourceStore<Resource>,
  namespaced: readonly ResourceStore<Resource>[],
): OrgRules {
  const orgUid = async (org: string) => {
    const found = await organizations.get(org);
    if (!found) {
      throw new ConnectError(
        `organization "${org}" does not exist: create it first with "dispatch create organization ${org}"`,
        Code.FailedPrecondition,
      );
    }
    return found.object.meta?.uid ?? "";
  };
  return {
    async checkOrg(org) {
      await orgUid(org);
    },
    orgUid,
    async checkOrgDelete(org) {
      const name = org.meta?.name ?? "";
      if (name === defaultOrg) {
        throw new ConnectError(`organization "${defaultOrg}" cannot be deleted`, Code.FailedPrecondition);
      }
      const used: string[] = [];
      for (const store of namespaced) {
        const { items } = await store.list(`${name}.*`);
        if (items.length > 0) used.push(`${items.length} ${store.bucket}`);
      }
      if (used.length > 0) {
        throw new ConnectError(
          `organization "${name}" still holds ${used.join(", ")}: delete them first`,
          Code.FailedPrecondition,
        );
      }
    },
  };
}
