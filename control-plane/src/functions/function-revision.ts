import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Function as FunctionResource, Source } from "@dispatch/proto";
import type { RevisionSpec } from "@dispatch/server-kit";
import { callTimeoutMs } from "./call-timeout.js";
import type { ScalePolicy } from "./revision-pool.js";

/** Defaults for what a function's spec leaves unset. */
export interface FunctionDefaults {
  maxInstances: number;
  concurrency: number;
  idleMs: number;
  timeoutMs: number;
}

/** The built-in defaults: 10 instances of 100 calls each, idle after 60 s, 30 s calls. */
export const functionDefaults: FunctionDefaults = {
  maxInstances: 10,
  concurrency: 100,
  idleMs: 60_000,
  timeoutMs: 30_000,
};

/** The function's scaling bounds, with the defaults for what its spec leaves out. */
export function scalePolicyOf(object: FunctionResource, defaults: FunctionDefaults): ScalePolicy {
  const scale = object.spec?.scale;
  return {
    min: scale?.min ?? 0,
    max: Math.max(1, scale?.max || defaults.maxInstances, scale?.min ?? 0),
    concurrency: scale?.concurrency || defaults.concurrency,
    idleMs: scale?.idleTimeout ? durationMs(scale.idleTimeout) : defaults.idleMs,
  };
}

/** How long one call may take (one source: call-timeout.ts). */
function timeoutMsOf(object: FunctionResource, defaults: FunctionDefaults): number {
  return callTimeoutMs(object, defaults.timeoutMs);
}

/** The function has no source to run. */
export class NoSourceError extends Error {
  override readonly name = "NoSourceError";
}

/** The bundle the function runs; throws {@link NoSourceError} when its spec names none. */
export function sourceOf(object: FunctionResource): Source {
  const source = object.spec?.source;
  if (!source || source.digest === "") {
    throw new NoSourceError(
      'the function has no source: create it with "dispatch create function NAME PATH"',
    );
  }
  return source;
}

/**
 * What the driver needs to run the function's current generation: plain
 * data, the bundle by reference. Throws {@link NoSourceError} when the spec names no source.
 */
export function revisionSpecOf(object: FunctionResource, defaults: FunctionDefaults): RevisionSpec {
  const source = sourceOf(object);
  const spec = object.spec as NonNullable<FunctionResource["spec"]>;
  return {
    org: object.meta?.org ?? "",
    name: object.meta?.name ?? "",
    uid: object.meta?.uid ?? "",
    generation: object.meta?.generation ?? 0n,
    runtime: spec.runtime,
    bundle: { digest: source.digest, format: source.format, filename: source.filename },
    handler: spec.handler,
    env: { ...spec.env },
    timeoutMs: timeoutMsOf(object, defaults),
    memory: spec.resources?.memory ?? "",
    cpu: spec.resources?.cpu ?? "",
  };
}

/** Whether the object runs the same code as a running revision (only its scale differs). */
export function sameCode(
  revision: RevisionSpec,
  object: FunctionResource,
  defaults: FunctionDefaults,
): boolean {
  const spec = object.spec;
  if (!spec) return false;
  const env = (e: Record<string, string>) => JSON.stringify(Object.entries(e).sort());
  return (
    revision.bundle.digest === (spec.source?.digest ?? "") &&
    revision.bundle.format === (spec.source?.format ?? "") &&
    revision.bundle.filename === (spec.source?.filename ?? "") &&
    revision.runtime === spec.runtime &&
    revision.handler === spec.handler &&
    revision.timeoutMs === timeoutMsOf(object, defaults) &&
    revision.memory === (spec.resources?.memory ?? "") &&
    revision.cpu === (spec.resources?.cpu ?? "") &&
    env(revision.env) === env(spec.env)
  );
}
