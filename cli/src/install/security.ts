import type { V1PodSecurityContext, V1SecurityContext } from "@kubernetes/client-node";

/**
 * The security contexts of every pod install creates: what the Pod Security
 * Standards' "restricted" profile requires (non-root, no privilege
 * escalation, every capability dropped, the runtime's default seccomp
 * profile), plus a read-only root filesystem; writable paths are emptyDirs.
 */

/** The user of the node:20-slim based images (`node`, uid 1000). */
export const DISPATCH_UID = 1000;

/** The user of the official Envoy image (`envoy`, uid 101). */
export const ENVOY_UID = 101;

/** NATS runs as this user; its data volume is given to this group (fsGroup). */
export const NATS_UID = 1000;

/** A pod's security context: a fixed non-root user, and `fsGroup` so mounted secrets and volumes are readable. */
export function podSecurityContext(uid: number): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Every container's security context. */
export function containerSecurityContext(): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}
