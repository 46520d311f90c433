import { type DescMessage, fromBinary, type Message, toBinary } from "@bufbuild/protobuf";
import type { Condition, ObjectMeta, Phase } from "@dispatch/proto";
import type { ObjectCodec } from "../store/resource-store.js";
import type { Violations } from "../validation/violations.js";

/**
 * The status fields every kind's status message shares (same field numbers).
 * Written by the platform only: the scheduler, or a component through UpdateStatus.
 */
export interface ResourceStatus {
  phase: Phase;
  conditions: Condition[];
  reason: string[];
  observedGeneration: bigint;
}

/** The shape every resource message has: meta, spec and status. */
export type Resource = Message & {
  meta?: ObjectMeta | undefined;
  spec?: Message | undefined;
  status?: ResourceStatus | undefined;
};

/**
 * Kind describes one resource kind to the generic store and service code:
 * where it is kept, how it is validated, encoded and shown. Adding a kind
 * means writing one of these, not another service: `createResourceService`
 * serves its Create/Get/List/Update/UpdateStatus/Delete/Watch (the proto
 * service declares the same seven verbs).
 */
export interface Kind<T extends Resource> {
  /** The kind's name as written in manifests: "Function". */
  name: string;
  /** The word used in messages: "function". */
  label: string;
  /** The KV bucket that holds the objects. */
  bucket: string;
  schema: DescMessage;
  /** Global kinds (Organization) are not scoped to an org. */
  global: boolean;
  /** The phase a newly created or updated object starts in. */
  initialPhase(object: T): Phase;
  /** Fills in defaults the spec leaves out (before validation). */
  prepare?(object: T): void;
  /** Adds every problem with the object's spec to `violations`. */
  validate(object: T, violations: Violations, at: { org: string }): void;
  /** How objects are stored; the default is protobuf binary. */
  codec: ObjectCodec<T>;
}

/** Stores objects as plain protobuf binary. */
export function binaryCodec<T extends Resource>(schema: DescMessage): ObjectCodec<T> {
  return {
    encode: (object) => toBinary(schema, object),
    decode: (payload) => fromBinary(schema, payload) as T,
  };
}
