import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";

/** One cluster entry, as client-node's `loadFromOptions` takes it. */
export interface KubeconfigCluster {
  name: string;
  server: string;
  /** Base64 of the PEM certificate(s) to trust; absent for plain HTTP. */
  caData?: string;
  /** client-node refuses plain HTTP unless this is true. */
  skipTLSVerify: boolean;
}

/**
 * A kubeconfig in the shape client-node's `KubeConfig.loadFromOptions` takes:
 * one cluster, one user with a bearer token, one context.
 */
export interface Kubeconfig {
  clusters: KubeconfigCluster[];
  users: { name: string; token: string }[];
  contexts: { name: string; cluster: string; user: string; namespace: string }[];
  currentContext: string;
}

/** The kubeconfig of a fake server at `server` that takes `token` (and, over HTTPS, whose certificate is `caPem`). */
export function kubeconfigFor(
  server: string,
  token: string,
  caPem: string | undefined,
  namespace = "default",
): Kubeconfig {
  const name = "dispatch-fake";
  const cluster: KubeconfigCluster = caPem
    ? { name, server, caData: Buffer.from(caPem).toString("base64"), skipTLSVerify: false }
    : { name, server, skipTLSVerify: true };
  return {
    clusters: [cluster],
    users: [{ name, token }],
    contexts: [{ name, cluster: name, user: name, namespace }],
    currentContext: name,
  };
}

/**
 * Writes the kubeconfig as the YAML file kubectl and `KubeConfig.loadFromFile`
 * read (mode 0600: it holds a token).
 */
export async function writeKubeconfig(path: string, config: Kubeconfig): Promise<void> {
  const file = {
    apiVersion: "v1",
    kind: "Config",
    clusters: config.clusters.map((c) => ({
      name: c.name,
      cluster: {
        server: c.server,
        ...(c.caData ? { "certificate-authority-data": c.caData } : {}),
        ...(c.skipTLSVerify ? { "insecure-skip-tls-verify": true } : {}),
      },
    })),
    users: config.users.map((u) => ({ name: u.name, user: { token: u.token } })),
    contexts: config.contexts.map((c) => ({
      name: c.name,
      context: { cluster: c.cluster, user: c.user, namespace: c.namespace },
    })),
    "current-context": config.currentContext,
  };
  await writeFile(path, stringify(file), { mode: 0o600 });
}
