import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { OrganizationSchema, Phase } from "@dispatch/proto";
import type { KV } from "@nats-io/kv";
import { ConfigurationError } from "./errors.js";
import type { Resource } from "./kinds/kind.js";
import { defaultOrg } from "./kinds/organization.js";
import type { Sealer } from "./secrets/sealer.js";
import { AlreadyExistsError } from "./store/errors.js";
import type { ResourceStore } from "./store/resource-store.js";

/**
 * Refuses to start with a secret key other than the one the store was first
 * used with: secrets sealed with the old key could not be opened, and finding
 * out at the first read is worse than finding out now.
 */
export async function checkSecretKey(kv: KV, sealer: Sealer): Promise<void> {
  const probe = new TextEncoder().encode("dispatch secret key check");
  const entry = await kv.get("secret-key-check");
  if (entry?.operation === "PUT") {
    try {
      sealer.open(entry.value, "system/secret-key-check");
      return;
    } catch (err) {
      throw new ConfigurationError(
        "the secret encryption key differs from the one this NATS store was set up with, so stored secrets could not be read. Use the original key (DISPATCH_SECRET_KEY or secret.key in the data dir), or point Dispatch at a fresh NATS store",
        { cause: err },
      );
    }
  }
  await kv.put("secret-key-check", sealer.seal(probe, "system/secret-key-check"));
}

/** Creates the "default" organization on first start. */
export async function ensureDefaultOrg(store: ResourceStore<Resource>): Promise<void> {
  if (await store.get(defaultOrg)) return;
  const now = timestampNow();
  const org = create(OrganizationSchema, {
    meta: { name: defaultOrg, uid: randomUUID(), generation: 1n, created: now, modified: now },
    spec: { displayName: "Default organization" },
    status: { phase: Phase.READY, observedGeneration: 1n },
  });
  await store.create(defaultOrg, org, `organization "${defaultOrg}"`).catch((err: unknown) => {
    if (!(err instanceof AlreadyExistsError)) throw err;
  });
}
