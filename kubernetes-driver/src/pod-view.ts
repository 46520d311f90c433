import type { InstanceExit } from "@dispatch/server-kit";
import type { KubeObject } from "./informer.js";

/** What the driver reads off one pod of a revision. */
export interface PodView {
  name: string;
  /** The instance as the control plane counts it: the pod and its container's incarnation (`<pod>.<restarts>`). */
  id: string;
  restarts: number;
  /** Deleted (scale down, removal, eviction): its calls are finishing. */
  terminating: boolean;
  /** Why it cannot start or keeps failing, in plain words, when it is stuck. */
  problem: string | undefined;
  /** How its last incarnation ended, when it was restarted. */
  lastExit: InstanceExit | undefined;
}

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  terminated?: { exitCode?: number; signal?: number; reason?: string; message?: string };
}

interface ContainerStatus {
  restartCount?: number;
  state?: ContainerState;
  lastState?: ContainerState;
  image?: string;
}

/** The worker container's status (the first), if the kubelet reported one. */
function workerStatus(pod: KubeObject): ContainerStatus | undefined {
  const statuses = (pod.status as { containerStatuses?: ContainerStatus[] } | undefined)?.containerStatuses;
  return statuses?.[0];
}

function memoryLimit(pod: KubeObject): string | undefined {
  const containers = (
    pod.spec as { containers?: { resources?: { limits?: { memory?: string } } }[] } | undefined
  )?.containers;
  return containers?.[0]?.resources?.limits?.memory;
}

function imageOf(pod: KubeObject): string {
  const containers = (pod.spec as { containers?: { image?: string }[] } | undefined)?.containers;
  return containers?.[0]?.image ?? "the runtime image";
}

/** How a container incarnation ended, in the driver's terms. */
function exitOf(pod: KubeObject, terminated: NonNullable<ContainerState["terminated"]>): InstanceExit {
  const code = terminated.exitCode ?? null;
  if (terminated.reason === "OOMKilled") {
    const limit = memoryLimit(pod);
    return { code, signal: null, stopped: false, reason: `out of memory${limit ? ` (limit ${limit})` : ""}` };
  }
  return {
    code,
    signal: null,
    stopped: false,
    ...(terminated.message
      ? { reason: `exit code ${code}: ${terminated.message.trim().slice(0, 300)}` }
      : {}),
  };
}

/** Why a pod cannot run, in plain words, or undefined while nothing is wrong (yet). */
function problemOf(pod: KubeObject, status: ContainerStatus | undefined): string | undefined {
  const conditions = (
    pod.status as { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] }
  )?.conditions;
  const scheduled = conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    return `no node can run it: ${scheduled.message ?? "the cluster has no room for its requests"}`;
  }
  const waiting = status?.state?.waiting;
  switch (waiting?.reason) {
    case "ImagePullBackOff":
    case "ErrImagePull":
    case "InvalidImageName":
      return `the cluster cannot pull ${status?.image || imageOf(pod)}: ${waiting.message ?? waiting.reason} (check the image name and the pull secret)`;
    case "CreateContainerConfigError":
      return `its container cannot be created: ${waiting.message ?? waiting.reason}`;
    case "CrashLoopBackOff": {
      const last = status?.lastState?.terminated;
      const how = last ? exitOf(pod, last) : undefined;
      const ended =
        how?.reason ?? (how?.code !== undefined && how.code !== null ? `exit code ${how.code}` : "it exits");
      const restarts = status?.restartCount ?? 0;
      return `it keeps crashing (${ended}; restarted ${restarts} ${restarts === 1 ? "time" : "times"})`;
    }
    default:
      return undefined;
  }
}

/** The view of a pod. */
export function podView(pod: KubeObject): PodView {
  const name = String(pod.metadata?.name ?? "");
  const status = workerStatus(pod);
  const restarts = status?.restartCount ?? 0;
  const last = status?.lastState?.terminated;
  return {
    name,
    id: `${name}.${restarts}`,
    restarts,
    terminating: typeof pod.metadata?.deletionTimestamp === "string",
    problem: problemOf(pod, status),
    lastExit: restarts > 0 && last ? exitOf(pod, last) : undefined,
  };
}

/** The kubelet's restart backoff after the n-th restart: 10 s doubling, at most 5 minutes. */
export function kubeletBackoffMs(restarts: number): number {
  return Math.min(300_000, 10_000 * 2 ** Math.max(0, restarts - 1));
}

/** The pod name of an instance id (`<pod>.<restarts>`). */
export function podOfInstance(id: string): string {
  const dot = id.lastIndexOf(".");
  return dot < 0 ? id : id.slice(0, dot);
}

/** A ready endpoint of a pod in an EndpointSlice: its address and the worker's port. */
export interface ReadyEndpoint {
  pod: string;
  url: string;
}

/** The ready endpoints of a revision's EndpointSlices, by pod name. */
export function readyEndpoints(slices: KubeObject[]): Map<string, ReadyEndpoint> {
  const ready = new Map<string, ReadyEndpoint>();
  for (const slice of slices) {
    const ports = (slice.ports as { name?: string; port?: number }[] | undefined) ?? [];
    const port = ports.find((p) => p.name === "http")?.port ?? ports[0]?.port;
    if (port === undefined) continue;
    const endpoints =
      (slice.endpoints as
        | {
            addresses?: string[];
            conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
            targetRef?: { kind?: string; name?: string };
          }[]
        | undefined) ?? [];
    for (const endpoint of endpoints) {
      const pod = endpoint.targetRef?.kind === "Pod" ? endpoint.targetRef.name : undefined;
      const address = endpoint.addresses?.[0];
      const { ready: isReady, terminating } = endpoint.conditions ?? {};
      if (!pod || !address || isReady !== true || terminating === true) continue;
      const host = address.includes(":") ? `[${address}]` : address;
      ready.set(pod, { pod, url: `http://${host}:${port}` });
    }
  }
  return ready;
}
