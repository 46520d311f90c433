import { formatBytes, parseQuantity, QuantityError } from "@dispatch/proto";
import type { Violations } from "../../validation/violations.js";

/** The memory an instance gets when its spec names none (`resources.memory`). */
export const defaultMemoryBytes = 256 * 2 ** 20;
/** Below this a worker cannot start: Node alone takes about 45 MiB. */
export const minMemoryBytes = 64 * 2 ** 20;
/** More than one instance should ever take on one machine. */
export const maxMemoryBytes = 32 * 2 ** 30;

/**
 * The memory limit of a function's instances, in bytes, from its spec's
 * `resources.memory` ("" for the default). Throws {@link QuantityError} with
 * a message for the user when the value is not a quantity or out of bounds.
 */
export function memoryLimitBytes(memory: string): number {
  if (memory.trim() === "") return defaultMemoryBytes;
  const bytes = parseQuantity(memory);
  if (bytes < minMemoryBytes || bytes > maxMemoryBytes) {
    throw new QuantityError(
      `is ${memory}; it must be from ${formatBytes(minMemoryBytes)} to ${formatBytes(maxMemoryBytes)} (leave it out for ${formatBytes(defaultMemoryBytes)})`,
    );
  }
  return bytes;
}

/** Adds a violation at `field` when `memory` is not a usable memory limit. */
export function checkMemory(v: Violations, field: string, memory: string | undefined): void {
  if (memory === undefined) return;
  try {
    memoryLimitBytes(memory);
  } catch (err) {
    if (!(err instanceof QuantityError)) throw err;
    v.add(field, err.message);
  }
}

/**
 * Interpreter flags that keep a worker within `memoryBytes` where no cgroup
 * does: Node's old-space heap gets three quarters (the rest is Node itself,
 * buffers and new space), so a handler that fills its heap fails with V8's
 * "heap out of memory". Python limits itself (RLIMIT_AS, CONTRACT.md).
 */
export function memoryFlags(runtime: string, memoryBytes: number): string[] {
  if (runtime !== "nodejs") return [];
  return [`--max-old-space-size=${Math.floor((memoryBytes * 0.75) / 2 ** 20)}`];
}
