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
      const w = new BinaryWriter();
      if (r.versionInfo !== "")
        w.tag(sotw.versionInfo.number, WireType.LengthDelimited).string(r.versionInfo);
      for (const resource of r.resources)
        w.tag(sotw.resources.number, WireType.LengthDelimited).bytes(resource.anyBytes);
      w.tag(sotw.typeUrl.number, WireType.LengthDelimited).string(r.typeUrl);
      w.tag(sotw.nonce.number, WireType.LengthDelimited).string(r.nonce);
      if (controlPlane) w.tag(sotw.controlPlane.number, WireType.LengthDelimited).bytes(controlPlane);
      return w.finish();
    },
    delta(r) {
      const w = new BinaryWriter();
      if (r.systemVersionInfo !== "") {
        w.tag(delta.systemVersionInfo.number, WireType.LengthDelimited).string(r.systemVersionInfo);
      }
      for (const resource of r.resources) {
        w.tag(delta.resources.number, WireType.LengthDelimited).bytes(resource.deltaBytes);
      }
      w.tag(delta.typeUrl.number, WireType.LengthDelimited).string(r.typeUrl);
      w.tag(delta.nonce.number, WireType.LengthDelimited).string(r.nonce);
      for (const name of r.removed)
        w.tag(delta.removedResources.number, WireType.LengthDelimited).string(name);
      if (controlPlane) w.tag(delta.controlPlane.number, WireType.LengthDelimited).bytes(controlPlane);
      return w.finish();
    },
  };
}
