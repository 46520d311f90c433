import { connectKube, createKubernetesDriver, type KubernetesDriver } from "@dispatch/kubernetes-driver";
import type { DriverFactory } from "@dispatch/server-kit";
import { type StartDispatchOptions, startDispatch, type TestDispatch } from "./dispatch.js";
import type { ClusterOptions } from "./fake-kube/cluster/simulated-cluster.js";
import type { JsonObject } from "./fake-kube/json.js";
import { type FakeKube, startFakeKube } from "./fake-kube/start-fake-kube.js";
import { stablePort } from "./nats-server.js";
import { runtimePodRunner } from "./runtime-pods.js";

/** A control plane whose functions run as pods of the fake cluster. */
export interface TestKubeDispatch extends TestDispatch {
  kube: FakeKube;
  /** The control plane's Kubernetes driver (as it made it). */
  driver(): KubernetesDriver;
}

/** Options of {@link startKubeDispatch}. */
export interface StartKubeDispatchOptions extends StartDispatchOptions {
  /** A fake API server to use (another control plane's, to restart against it); a new one by default. */
  kube?: FakeKube;
  /** The simulated cluster's options when a new fake API server is started (the pod runner is set here). */
  cluster?: Omit<ClusterOptions, "podRunner">;
  /** The namespace functions run in; default "dispatch" (created). */
  namespace?: string;
  /** Every line a pod writes, for debugging a test. */
  onPodLine?(pod: string, line: string): void;
}

/**
 * The Kubernetes driver of a control plane whose functions run on `kube`, as
 * `--driver kubernetes` makes it: `controlPlaneUrl` is where the pods fetch
 * their bundle (the control plane's own URL, so its port must be known
 * before it starts).
 */
export function kubernetesDriverFactory(
  kube: FakeKube,
  options: { namespace?: string; controlPlaneUrl: string; made?(driver: KubernetesDriver): void },
): DriverFactory {
  return async (host) => {
    const driver = createKubernetesDriver({
      api: await connectKube({ kubeconfig: kube.kubeconfigPath, env: {} }),
      namespace: options.namespace ?? "dispatch",
      images: { nodejs: "dispatch/runtime-nodejs:test", python3: "dispatch/runtime-python3:test" },
      controlPlaneUrl: options.controlPlaneUrl,
      credentials: host.credentials,
      log: (message, error) =>
        console.error(`kubernetes driver: ${message}${error ? `: ${(error as Error).message}` : ""}`),
    });
    options.made?.(driver);
    await driver.synced;
    return driver;
  };
}

/**
 * A fake Kubernetes API server whose simulated kubelet runs function pods as
 * real workers (`runtimePodRunner`), with the namespace functions run in.
 * Close it with `close()`; several control planes may use it in turn.
 */
export async function startRuntimeCluster(
  options: Pick<StartKubeDispatchOptions, "namespace" | "cluster" | "onPodLine"> = {},
): Promise<FakeKube> {
  let started: FakeKube | undefined;
  const kube = await startFakeKube({
    namespaces: [options.namespace ?? "dispatch"],
    cluster: {
      ...options.cluster,
      podRunner: (pod) =>
        runtimePodRunner(started as FakeKube, options.onPodLine ? { onLine: options.onPodLine } : {})(pod),
    },
  });
  started = kube;
  return kube;
}

/**
 * Starts a fake Kubernetes API server whose kubelet runs real worker
 * processes as the function pods (`runtimePodRunner`: the bundle fetched
 * from the control plane, then the runtime's worker), and a control plane
 * with the Kubernetes driver against it, as `--driver kubernetes` runs it.
 */
export async function startKubeDispatch(options: StartKubeDispatchOptions = {}): Promise<TestKubeDispatch> {
  const namespace = options.namespace ?? "dispatch";
  const ownKube = options.kube === undefined;
  const kube =
    options.kube ??
    (await startRuntimeCluster({
      namespace,
      ...(options.cluster ? { cluster: options.cluster } : {}),
      ...(options.onPodLine ? { onPodLine: options.onPodLine } : {}),
    }));
  const fake = kube;
  // Below the ephemeral range: picked now, listened on a moment later, it must not be taken meanwhile.
  const port = options.controlPlane?.port ?? (await stablePort());
  let driver: KubernetesDriver | undefined;
  try {
    const dispatch = await startDispatch({
      ...options,
      controlPlane: {
        ...options.controlPlane,
        port,
        driver: kubernetesDriverFactory(fake, {
          namespace,
          controlPlaneUrl: `http://127.0.0.1:${port}`,
          made: (made) => {
            driver = made;
          },
        }),
      },
    });
    return {
      ...dispatch,
      kube: fake,
      driver: () => driver as KubernetesDriver,
      async stop() {
        await dispatch.stop();
        if (ownKube) await fake.close();
      },
    };
  } catch (err) {
    if (ownKube) await fake.close();
    throw err;
  }
}

/** The objects of `resource` the Kubernetes driver made for a function (by its label), as the fake stores them. */
export function objectsOfFunction(
  kube: FakeKube,
  resource: string,
  fn: string,
  namespace = "dispatch",
): JsonObject[] {
  return kube
    .list(resource, namespace)
    .filter(
      (o) =>
        (o.metadata as { labels?: Record<string, string> } | undefined)?.labels?.["dispatch.dev/function"] ===
        fn,
    );
}
