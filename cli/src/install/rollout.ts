import { type KubeApi, KubeApiError, KubeConnectionError } from "@dispatch/kubernetes-driver/kube-api";
import { CommandError } from "../errors.js";
import { installSelector } from "./labels.js";
import { collectionPath, displayName } from "./resource-paths.js";
import type { KubeObject } from "./workload.js";

/** A Deployment's or StatefulSet's fields that tell how its rollout is going. */
interface WorkloadState {
  kind?: string;
  metadata?: { name?: string; generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    conditions?: { type?: string; reason?: string; message?: string }[];
  };
}

/** Where a rollout is: done, waiting (and on what), or failed (and why). */
export type RolloutState =
  | { done: true }
  | { done: false; waiting: string }
  | { done: false; failed: string };

/**
 * Whether a Deployment or StatefulSet has rolled out, by the rules
 * `kubectl rollout status` uses: the controller saw the newest spec, every
 * replica runs it, none of the old ones is left, and the new ones are
 * available (Deployment) or ready on the newest revision (StatefulSet).
 */
export function rolloutState(object: WorkloadState): RolloutState {
  const generation = object.metadata?.generation ?? 0;
  const status = object.status ?? {};
  const want = object.spec?.replicas ?? 1;
  if ((status.observedGeneration ?? 0) < generation)
    return { done: false, waiting: "the new spec is not yet seen" };
  const updated = status.updatedReplicas ?? 0;
  if (object.kind === "StatefulSet") {
    const ready = status.readyReplicas ?? 0;
    if (updated < want) return { done: false, waiting: `${updated} of ${want} pods updated` };
    if (ready < want) return { done: false, waiting: `${ready} of ${want} pods ready` };
    if (status.updateRevision && status.currentRevision !== status.updateRevision) {
      return { done: false, waiting: "the last pods are being replaced" };
    }
    return { done: true };
  }
  const stuck = status.conditions?.find(
    (c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded",
  );
  if (stuck) return { done: false, failed: stuck.message ?? "its progress deadline passed" };
  if (updated < want) return { done: false, waiting: `${updated} of ${want} replicas updated` };
  if ((status.replicas ?? 0) > updated) {
    return { done: false, waiting: `${(status.replicas ?? 0) - updated} old replicas still terminating` };
  }
  const available = status.availableReplicas ?? 0;
  if (available < updated)
    return { done: false, waiting: `${available} of ${updated} updated replicas available` };
  return { done: true };
}

/** How {@link waitForRollouts} waits. */
export interface WaitOptions {
  namespace: string;
  timeoutMs: number;
  progress(line: string): void;
}

/**
 * Waits until every Deployment and StatefulSet of `objects` has rolled out:
 * lists them, then watches for changes from the list's resourceVersion,
 * listing again whenever the watch ends or breaks (a too-old version, a cut
 * connection). Prints a line when a workload's state changes.
 *
 * @throws CommandError when one fails, or when the time is up (saying what
 *   each pod that is not ready is waiting on)
 */
export async function waitForRollouts(kube: KubeApi, objects: readonly KubeObject[], options: WaitOptions) {
  const signal = AbortSignal.timeout(options.timeoutMs);
  const said = new Map<string, string>();
  const pending = new Set(
    objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet").map(key),
  );
  const observe = (object: WorkloadState) => {
    const id = `${object.kind}/${object.metadata?.name ?? ""}`;
    if (!pending.has(id)) return;
    const state = rolloutState(object);
    const name = displayName({ kind: object.kind ?? "", metadata: { name: object.metadata?.name ?? "" } });
    if (state.done) {
      pending.delete(id);
      options.progress(`${name} rolled out`);
    } else if ("failed" in state) {
      throw new CommandError(`${name} failed to roll out: ${state.failed}`);
    } else if (said.get(id) !== state.waiting) {
      said.set(id, state.waiting);
      options.progress(`waiting for ${name}: ${state.waiting}`);
    }
  };
  try {
    for (const kind of ["StatefulSet", "Deployment"]) {
      await followKind(kube, kind, options.namespace, signal, observe, () =>
        [...pending].some((id) => id.startsWith(`${kind}/`)),
      );
    }
  } catch (err) {
    if (!signal.aborted) throw err;
    const left = [...pending].map((id) => id.replace("/", " ")).join(", ");
    throw new CommandError(`not rolled out within ${Math.round(options.timeoutMs / 1000)}s: ${left}`, {
      lines: await podProblems(kube, options.namespace),
    });
  }
}

const key = (object: KubeObject) => `${object.kind}/${object.metadata.name}`;

/** Lists then watches one kind until `waiting()` says nothing of that kind is left. */
async function followKind(
  kube: KubeApi,
  kind: string,
  namespace: string,
  signal: AbortSignal,
  observe: (object: WorkloadState) => void,
  waiting: () => boolean,
): Promise<void> {
  const path = collectionPath(kind, namespace);
  let failures = 0;
  while (waiting()) {
    signal.throwIfAborted();
    let resourceVersion: string | undefined;
    try {
      const list = await kube.request<{ metadata?: { resourceVersion?: string }; items?: WorkloadState[] }>({
        method: "GET",
        path,
        query: { labelSelector: installSelector },
        signal,
      });
      for (const item of list.items ?? []) observe({ ...item, kind });
      resourceVersion = list.metadata?.resourceVersion;
    } catch (err) {
      if (signal.aborted || !(err instanceof KubeConnectionError || err instanceof KubeApiError)) throw err;
      await pause(++failures, signal);
      continue;
    }
    if (!waiting()) return;
    try {
      for await (const event of kube.watch(
        path,
        { labelSelector: installSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 },
        signal,
      )) {
        // ERROR (a 410 for a version too old, say): list again.
        if (event.type === "ERROR") break;
        if (event.type === "ADDED" || event.type === "MODIFIED")
          observe({ ...(event.object as WorkloadState), kind });
        if (!waiting()) return;
      }
      failures = 0;
    } catch (err) {
      if (signal.aborted || !(err instanceof KubeConnectionError)) throw err;
      await pause(++failures, signal);
    }
  }
}

/** Backs off after a failed list or watch: 1 s doubling to 30 s, ended early by `signal`. */
function pause(failures: number, signal: AbortSignal): Promise<void> {
  const ms = Math.min(30_000, 1000 * 2 ** Math.min(failures - 1, 5));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

interface PodState {
  metadata?: { name?: string };
  status?: {
    phase?: string;
    conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
    containerStatuses?: {
      name?: string;
      ready?: boolean;
      state?: {
        waiting?: { reason?: string; message?: string };
        terminated?: { reason?: string; exitCode?: number };
      };
    }[];
  };
}

/** What each of the installation's pods that is not ready is waiting on, one line each. */
async function podProblems(kube: KubeApi, namespace: string): Promise<string[]> {
  try {
    const pods = await kube.request<{ items?: PodState[] }>({
      method: "GET",
      path: collectionPath("Pod", namespace),
      query: { labelSelector: installSelector },
      signal: AbortSignal.timeout(30_000),
    });
    return (pods.items ?? []).flatMap((pod) => {
      const name = pod.metadata?.name ?? "?";
      const unschedulable = pod.status?.conditions?.find(
        (c) => c.type === "PodScheduled" && c.status === "False",
      );
      if (unschedulable)
        return [`pod/${name}: not scheduled: ${unschedulable.message ?? unschedulable.reason ?? ""}`];
      return (pod.status?.containerStatuses ?? [])
        .filter((c) => !c.ready)
        .map((c) => {
          const waiting = c.state?.waiting;
          const terminated = c.state?.terminated;
          const why = waiting
            ? `${waiting.reason ?? "waiting"}${waiting.message ? `: ${waiting.message}` : ""}`
            : terminated
              ? `${terminated.reason ?? "terminated"} (exit ${terminated.exitCode ?? "?"})`
              : "running, not ready (see its readiness probe)";
          return `pod/${name} (${c.name ?? "?"}): ${why}`;
        });
    });
  } catch {
    return ["(the pods could not be listed to say why)"];
  }
}
