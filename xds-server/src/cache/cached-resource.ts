import { createHash } from "node:crypto";
import { create, type DescMessage, type Message, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { ResourceSchema } from "@dispatch/proto/envoy";
import { type ResourceRef, referencesOf } from "./references.js";

/**
 * One resource as every stream sends it: encoded once, versioned by content,
 * and wrapped once for each protocol. The objects are immutable and shared by
 * every connected client; a resource that did not change between snapshots
 * keeps its object (and its bytes).
 */
export interface CachedResource {
  readonly typeUrl: string;
  readonly name: string;
  /** A hash of the encoded resource: equal content, equal version. */
  readonly version: string;
  /** The resource, encoded. */
  readonly bytes: Uint8Array;
  /** What it names in other types (route configurations, clusters, load assignments). */
  readonly references: readonly ResourceRef[];
  /** `google.protobuf.Any` of the resource, encoded: an entry of a SotW `resources` list. */
  readonly anyBytes: Uint8Array;
  /** `envoy.service.discovery.v3.Resource` (name, version, resource), encoded: an entry of a Delta `resources` list. */
  readonly deltaBytes: Uint8Array;
}

/** Encodes a resource and computes its version. */
export function cacheResource(
  typeUrl: string,
  name: string,
  schema: DescMessage,
  message: Message,
): CachedResource {
  const bytes = toBinary(schema, message);
  return createCachedResource(typeUrl, name, versionOf(bytes), bytes, referencesOf(typeUrl, message));
}

/** The version of an encoded resource: a hash of its bytes. */
export function versionOf(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url").slice(0, 22);
}

/** A cached resource from bytes already encoded; the wrappers are built when first asked for. */
export function createCachedResource(
  typeUrl: string,
  name: string,
  version: string,
  bytes: Uint8Array,
  references: readonly ResourceRef[],
): CachedResource {
  let any: Uint8Array | undefined;
  let delta: Uint8Array | undefined;
  return Object.freeze({
    typeUrl,
    name,
    version,
    bytes,
    references: Object.freeze([...references]),
    get anyBytes(): Uint8Array {
      any ??= toBinary(AnySchema, create(AnySchema, { typeUrl, value: bytes }));
      return any;
    },
    get deltaBytes(): Uint8Array {
      delta ??= toBinary(
        ResourceSchema,
        create(ResourceSchema, { name, version, resource: { typeUrl, value: bytes } }),
      );
      return delta;
    },
  });
}
