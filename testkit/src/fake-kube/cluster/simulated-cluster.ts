import type { ObjectStore, StoreEvent } from "../object-store.js";
import { findType, type ResourceType } from "../resource-types.js";
import { reconcileDeployment } from "./deployment-controller.js";
import { reconcileEndpointSlices } from "./endpointslice-controller.js";
import { Kubelet, type PodFailure, type PodMatch, type PodRunner } from "./kubelet.js";
import { controllerOf, metaOf } from "./owners.js";
import { reconcileReplicaSet } from "./replicaset-controller.js";
import { WorkQueue } from "./work-queue.js";

const nodes = findType("", "v1", "nodes") as ResourceType;
const pods = findType("", "v1", "pods") as ResourceType;
const services = findType("", "v1", "services") as ResourceType;
const deployments = findType("apps", "v1", "deployments") as ResourceType;
const replicaSets = findType("apps", "v1", "replicasets") as ResourceType;

/** Options of the simulated cluster (controllers and one node's kubelet). */
export interface ClusterOptions {
  /** The node pods are scheduled to (default `fake-node-1`). */
  nodeName?: string;
  /** Starts what runs as each pod (e.g. a real worker process); without it pods are only status. */
  podRunner?: PodRunner;
  /** Pods become Ready this long after their container runs (default 0). */
  readyDelayMs?: number;
  /**
   * `start`: `readyDelayMs` counts from when the kubelet begins starting the
   * pod, so the pod runner's own time (a real process starting) is inside
   * it, as a node's container start is inside a real pod's start-up time.
   * Default `running`: from when the runner is done.
   */
  readyDelayFrom?: "running" | "start";
  /** False: pods become Ready only when the test calls `markReady` (or a readiness probe passes). Default true. */
  autoReady?: boolean;
  /** Probe containers' httpGet readiness probes at the runner's address (default false). */
  probeReadiness?: boolean;
  /** Time between readiness probes (default 100 ms). */
  probeIntervalMs?: number;
}

/** The simulated cluster's controls for tests. */
export interface FakeCluster {
  readonly nodeName: string;
  /** Makes a running pod Ready, as a passing readiness probe would; resolves once written. */
  markReady(namespace: string, name: string): Promise<void>;
  /** Makes a running pod not ready, as a failing readiness probe would. */
  markUnready(namespace: string, name: string): Promise<void>;
  /** Kills a pod's container (reason Error, or OOMKilled with exit code 137); the kubelet restarts it. */
  crash(
    namespace: string,
    name: string,
    how?: { reason?: "Error" | "OOMKilled"; exitCode?: number },
  ): Promise<void>;
  /**
   * Gives the pods `match` selects a failure from now on (pods created or
   * restarted later; Unschedulable also pods not yet scheduled). Returns what
   * lifts the rule (unscheduled pods are then scheduled).
   */
  failPods(match: PodMatch, failure: PodFailure): () => void;
  /** Errors the controllers hit (a healthy simulation has none). */
  readonly errors: readonly unknown[];
  /** Resolves once the controllers have nothing queued (pods' own start-ups may still run). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

function rfc3339(): string {
  return `${new Date().toISOString().slice(0, 19)}Z`;
}

/**
 * Runs the controllers of a minimal cluster against the store: Deployments
 * → ReplicaSets → Pods, one node's scheduler and kubelet, and EndpointSlices
 * for Services, each reacting to the store's changes as the real ones react to
 * their watches.
 */
export function startCluster(store: ObjectStore, options: ClusterOptions = {}): FakeCluster {
  const nodeName = options.nodeName ?? "fake-node-1";
  const errors: unknown[] = [];
  const kubelet = new Kubelet({
    store,
    nodeName,
    runner: options.podRunner,
    readyDelayMs: options.readyDelayMs ?? 0,
    readyDelayFrom: options.readyDelayFrom ?? "running",
    autoReady: options.autoReady ?? true,
    probeReadiness: options.probeReadiness ?? false,
    probeIntervalMs: options.probeIntervalMs ?? 100,
    now: rfc3339,
    onError: (error) => errors.push(error),
  });
  store.gracePolicy = (type, obj, requested) =>
    type === pods ? kubelet.gracePeriod(obj, requested) : undefined;

  const queue = new WorkQueue(
    (key) => {
      const [kind = "", namespace = "", name = ""] = key.split("/");
      if (kind === "deploy") reconcileDeployment(store, namespace, name, rfc3339());
      else if (kind === "rs") reconcileReplicaSet(store, namespace, name);
      else if (kind === "pod") kubelet.sync(namespace, name);
      else if (kind === "svc")
        reconcileEndpointSlices(store, namespace, name, (uid) => kubelet.addressOf(uid));
    },
    (key, error) =>
      errors.push(new Error(`reconciling ${key}: ${(error as Error).message}`, { cause: error })),
  );

  const servicesIn = (namespace: string) =>
    store.list(services, { namespace }).items.map((s) => metaOf(s).name);
  const onEvent = (event: StoreEvent) => {
    const { namespace, name } = metaOf(event.object);
    const owner = controllerOf(event.object);
    switch (event.resourceType) {
      case deployments:
        queue.add(`deploy/${namespace}/${name}`);
        break;
      case replicaSets:
        queue.add(`rs/${namespace}/${name}`);
        if (owner?.kind === "Deployment") queue.add(`deploy/${namespace}/${owner.name}`);
        break;
      case pods:
        queue.add(`pod/${namespace}/${name}`);
        if (owner?.kind === "ReplicaSet") queue.add(`rs/${namespace}/${owner.name}`);
        for (const service of servicesIn(namespace)) queue.add(`svc/${namespace}/${service}`);
        break;
      case services:
        queue.add(`svc/${namespace}/${name}`);
        break;
      default:
        break;
    }
  };
  const unsubscribe = store.subscribe(onEvent);

  if (!store.find(nodes, "", nodeName)) {
    const node = store.create(
      nodes,
      "",
      {
        metadata: {
          name: nodeName,
          labels: { "kubernetes.io/hostname": nodeName, "kubernetes.io/os": "linux" },
        },
      },
      { fieldManager: "kubelet" },
    );
    const capacity = { cpu: "2", memory: "8Gi", pods: "110" };
    store.update(
      nodes,
      "",
      nodeName,
      {
        ...node,
        status: {
          capacity,
          allocatable: capacity,
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "KubeletReady",
              message: "kubelet is posting ready status",
              lastHeartbeatTime: rfc3339(),
              lastTransitionTime: rfc3339(),
            },
          ],
          addresses: [
            { type: "InternalIP", address: "10.0.0.1" },
            { type: "Hostname", address: nodeName },
          ],
        },
      },
      { fieldManager: "kubelet", subresource: "status" },
    );
  }
  const resyncPods = () => {
    for (const pod of store.list(pods).items) queue.add(`pod/${metaOf(pod).namespace}/${metaOf(pod).name}`);
  };
  for (const d of store.list(deployments).items) queue.add(`deploy/${metaOf(d).namespace}/${metaOf(d).name}`);
  for (const rs of store.list(replicaSets).items) queue.add(`rs/${metaOf(rs).namespace}/${metaOf(rs).name}`);
  for (const s of store.list(services).items) queue.add(`svc/${metaOf(s).namespace}/${metaOf(s).name}`);
  resyncPods();

  return {
    nodeName,
    markReady: (namespace, name) => kubelet.setPodReady(namespace, name, true),
    markUnready: (namespace, name) => kubelet.setPodReady(namespace, name, false),
    crash: (namespace, name, how) => kubelet.crash(namespace, name, how),
    failPods(match, failure) {
      const remove = kubelet.addFailure(match, failure);
      resyncPods();
      return () => {
        remove();
        resyncPods();
      };
    },
    errors,
    settled: () => queue.idle(),
    async close() {
      unsubscribe();
      queue.close();
      store.gracePolicy = undefined;
      await kubelet.close();
    },
  };
}
