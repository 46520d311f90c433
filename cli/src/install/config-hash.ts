import { createHash } from "node:crypto";

/**
 * The pod annotation that carries a hash of a pod's configuration files: a
 * changed ConfigMap changes the pod template, so `dispatch install` rolls
 * the pods that read it (a ConfigMap change alone restarts nothing).
 */
export const CONFIG_HASH_ANNOTATION = "dispatch.dev/config-hash";

/** SHA-256 of a ConfigMap's data, its keys in order: the same data gives the same hash. */
export function configHash(data: Readonly<Record<string, string>>): string {
  const hash = createHash("sha256");
  for (const key of Object.keys(data).sort()) {
    hash.update(`${key}\0${data[key]}\0`);
  }
  return hash.digest("hex");
}
