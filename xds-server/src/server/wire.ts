import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema, registry } from "@dispatch/proto/envoy";
import type { CachedResource } from "../cache/cached-resource.js";

// Field numbers from the descriptors, so a renumbering upstream cannot go unnoticed.
const sotw = DiscoveryResponseSchema.field;
const delta = DeltaDiscoveryResponseSchema.field;

/** A SotW `DiscoveryResponse`. */
export interface SotwResponse {
  versionInfo: string;
  resources: readonly CachedResource[];
  typeUrl: string;
  nonce: string;
}

/** A Delta `DeltaDiscoveryResponse`. */
export interface DeltaResponse {
  systemVersionInfo: string;
  resources: readonly CachedResource[];
  removed: readonly string[];
  typeUrl: string;
  nonce: string;
}

/**
 * Encodes responses from the resources' shared bytes: the message around
 * them is written field by field, and each resource entry is copied in as the
 * cache encoded it, never encoded again per stream. The result decodes as
 * the same message `toBinary` would give.
 */
export function createResponseEncoder(identifier: string): {
  sotw(response: SotwResponse): Uint8Array;
  delta(response: DeltaResponse): Uint8Array;
} {
  const controlPlaneSchema = registry.getMessage("envoy.config.core.v3.ControlPlane");
  const controlPlane =
    identifier !== "" && controlPlaneSchema
      ? toBinary(controlPlaneSchema, create(controlPlaneSchema, { identifier }))
      : undefined;
  return {
    sotw(r) {
      const w = new ChunkWriter();
      if (r.versionInfo !== "")
        w.writer.tag(sotw.versionInfo.number, WireType.LengthDelimited).string(r.versionInfo);
      for (const resource of r.resources) w.shared(sotw.resources.number, resource.anyPrefix, resource.bytes);
      w.writer.tag(sotw.typeUrl.number, WireType.LengthDelimited).string(r.typeUrl);
      w.writer.tag(sotw.nonce.number, WireType.LengthDelimited).string(r.nonce);
      if (controlPlane) w.writer.tag(sotw.controlPlane.number, WireType.LengthDelimited).bytes(controlPlane);
      return w.finish();
    },
    delta(r) {
      const w = new ChunkWriter();
      if (r.systemVersionInfo !== "") {
        w.writer.tag(delta.systemVersionInfo.number, WireType.LengthDelimited).string(r.systemVersionInfo);
      }
      for (const resource of r.resources)
        w.shared(delta.resources.number, resource.deltaPrefix, resource.bytes);
      w.writer.tag(delta.typeUrl.number, WireType.LengthDelimited).string(r.typeUrl);
      w.writer.tag(delta.nonce.number, WireType.LengthDelimited).string(r.nonce);
      for (const name of r.removed)
        w.writer.tag(delta.removedResources.number, WireType.LengthDelimited).string(name);
      if (controlPlane) w.writer.tag(delta.controlPlane.number, WireType.LengthDelimited).bytes(controlPlane);
      return w.finish();
    },
  };
}

/**
 * A message written as a list of chunks: small fields through a
 * BinaryWriter, each shared resource entry as the very bytes the cache holds,
 * so that building a response copies a large resource once (into the one
 * buffer returned), not into the writer's buffers and out again.
 */
class ChunkWriter {
  writer = new BinaryWriter();
  private readonly chunks: Uint8Array[] = [];

  /** A length-delimited field whose value is `prefix` then `bytes`, neither copied until {@link finish}. */
  shared(field: number, prefix: Uint8Array, bytes: Uint8Array): void {
    this.writer.tag(field, WireType.LengthDelimited).uint32(prefix.length + bytes.length);
    this.chunks.push(this.writer.finish(), prefix, bytes);
  }

  finish(): Uint8Array {
    this.chunks.push(this.writer.finish());
    const joined = Buffer.concat(this.chunks);
    // A plain view of the same memory: what decodes it gets Uint8Arrays, as from toBinary.
    return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
  }
}
