import { createHash } from "node:crypto";
import { type DescMessage, type Message, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
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
  /**
   * What comes before {@link bytes} in {@link anyBytes} and {@link deltaBytes}:
   * a response can be written as these few bytes and the shared `bytes`,
   * without a copy of a large resource per wrapper.
   */
  readonly anyPrefix: Uint8Array;
  readonly deltaPrefix: Uint8Array;
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
  let anyPrefix: Uint8Array | undefined;
  let deltaPrefix: Uint8Array | undefined;
  let any: Uint8Array | undefined;
  let delta: Uint8Array | undefined;
  // The wrappers' fields in the order toBinary writes them, the resource's bytes last.
  const makeAnyPrefix = () => {
    const w = new BinaryWriter();
    if (typeUrl !== "") w.tag(anyField.typeUrl, WireType.LengthDelimited).string(typeUrl);
    return w.tag(anyField.value, WireType.LengthDelimited).uint32(bytes.length).finish();
  };
  const resource = {
    typeUrl,
    name,
    version,
    bytes,
    references: Object.freeze([...references]),
    get anyPrefix(): Uint8Array {
      anyPrefix ??= makeAnyPrefix();
      return anyPrefix;
    },
    get deltaPrefix(): Uint8Array {
      if (!deltaPrefix) {
        const inner = resource.anyPrefix;
        const w = new BinaryWriter();
        if (name !== "") w.tag(resourceField.name, WireType.LengthDelimited).string(name);
        if (version !== "") w.tag(resourceField.version, WireType.LengthDelimited).string(version);
        w.tag(resourceField.resource, WireType.LengthDelimited)
          .uint32(inner.length + bytes.length)
          .raw(inner);
        deltaPrefix = w.finish();
      }
      return deltaPrefix;
    },
    get anyBytes(): Uint8Array {
      any ??= joined(resource.anyPrefix, bytes);
      return any;
    },
    get deltaBytes(): Uint8Array {
      delta ??= joined(resource.deltaPrefix, bytes);
      return delta;
    },
  };
  return Object.freeze(resource);
}

const anyField = { typeUrl: AnySchema.field.typeUrl.number, value: AnySchema.field.value.number };
const resourceField = {
  name: ResourceSchema.field.name.number,
  version: ResourceSchema.field.version.number,
  resource: ResourceSchema.field.resource.number,
};

function joined(prefix: Uint8Array, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + bytes.length);
  out.set(prefix, 0);
  out.set(bytes, prefix.length);
  return out;
}
