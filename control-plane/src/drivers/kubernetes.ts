/**
 * The Kubernetes driver as `dispatch-control-plane --driver kubernetes` runs
 * it: with the settings `main.ts` read (the variables the manifests of
 * `dispatch install` set, deploy/README.md), the cluster from a kubeconfig or
 * the pod's service account, and a leader election among the replicas.
 * Loaded with `import()` from `main.ts` only, so nothing else loads
 * `@kubernetes/client-node`.
 */

import { connectKube, createKubernetesDriver, startLeaderElection } from "@dispatch/kubernetes-driver";
import type { DriverFactory, LeaderGate } from "@dispatch/server-kit";
import { ConfigurationError } from "../errors.js";

/** What the Kubernetes driver is configured with (the variables `dispatch install` sets). */
export interface KubernetesSettings {
  namespace: string;
  images: { nodejs: string; python3: string };
  controlPlaneUrl: string;
  identity: string;
  imagePullPolicy: string | undefined;
  serviceAccount: string | undefined;
  /** How long the leader's Lease holds without renewal, in ms (a standby takes over after it). */
  leaseMs: number;
}

/** What `main.ts` gets: the driver's factory, the leader gate of the scheduler, and what stops the election. */
export interface KubernetesSetup {
  driver: DriverFactory;
  leader: LeaderGate;
  /** A line for the start-up log: the cluster, namespace and identity. */
  describe: string;
  close(): Promise<void>;
}

/** Connects to the cluster and starts the leader election; the driver starts with the control plane. */
export async function kubernetesSetup(
  settings: KubernetesSettings,
  env: NodeJS.ProcessEnv,
  log: (message: string, error?: unknown) => void,
): Promise<KubernetesSetup> {
  const { namespace, identity } = settings;
  let api: Awaited<ReturnType<typeof connectKube>>;
  try {
    api = await connectKube({ env, userAgent: `dispatch-control-plane/${identity}` });
  } catch (err) {
    throw new ConfigurationError(`--driver kubernetes: ${(err as Error).message}`, { cause: err });
  }
  const election = startLeaderElection({
    api,
    namespace,
    name: "dispatch-control-plane",
    identity,
    // As client-go's defaults (15 s, 10 s, 2 s), scaled to the lease asked for.
    leaseDurationMs: settings.leaseMs,
    renewDeadlineMs: Math.round((settings.leaseMs * 2) / 3),
    retryPeriodMs: Math.max(200, Math.round(settings.leaseMs / 7.5)),
    log: (message: string, error?: unknown) => log(`leader election: ${message}`, error),
  });
  return {
    leader: election,
    describe: `cluster ${api.server} (context ${api.context}), namespace ${namespace}, identity ${identity}`,
    driver: async (host) => {
      const driver = createKubernetesDriver({
        api,
        namespace,
        images: settings.images,
        ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
        ...(settings.serviceAccount ? { serviceAccount: settings.serviceAccount } : {}),
        controlPlaneUrl: settings.controlPlaneUrl,
        credentials: host.credentials,
        leader: election,
        log: (message, error) => log(`kubernetes driver: ${message}`, error),
      });
      await driver.synced;
      return driver;
    },
    close: () => election.close(),
  };
}
