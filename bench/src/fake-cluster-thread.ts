/**
 * The fake Kubernetes API server of `k8s-cold-start`, on a worker thread of
 * its own, as a real API server runs apart from the control plane: its
 * controllers' work (each write copies objects) does not hold up the control
 * plane's event loop. The simulated kubelet runs each pod as the runtime image
 * does (`runtimePodRunner`), timed here, where the kubelet calls it.
 *
 * Messages to the parent: `{ type: "started", kubeconfigPath }` once it
 * listens; `{ type: "container", pod, start, end }` for each pod the runner
 * started (times from `process.hrtime`, one clock for every thread); `{ type:
 * "closed" }` after the parent sent `{ type: "close" }`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type FakeKube, type PodRunner, runtimePodRunner, startFakeKube } from "@dispatch/testkit";

/** What the parent gives the thread. */
export interface FakeClusterSettings {
  namespace: string;
  /** The kubelet makes a pod Ready this long after it began starting it (`start`), or after its container runs. */
  readyDelayMs: number;
  readyDelayFrom: "start" | "running";
}

/** What the thread tells the parent. */
export type FakeClusterMessage =
  | { type: "started"; kubeconfigPath: string }
  | { type: "container"; pod: string; start: number; end: number }
  | { type: "closed" };

/** Milliseconds on the process's monotonic clock: the same in every thread, unlike `performance.now()`. */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

if (parentPort && workerData) {
  const port = parentPort;
  const settings = workerData as FakeClusterSettings;
  const tell = (message: FakeClusterMessage) => port.postMessage(message);
  let kube: FakeKube | undefined;
  const timedRunner: PodRunner = async (pod) => {
    const start = monotonicMs();
    const started = await runtimePodRunner(kube as FakeKube)(pod);
    tell({
      type: "container",
      pod: String((pod.metadata as { name?: string }).name),
      start,
      end: monotonicMs(),
    });
    return started;
  };
  kube = await startFakeKube({
    namespaces: [settings.namespace],
    cluster: {
      readyDelayMs: settings.readyDelayMs,
      readyDelayFrom: settings.readyDelayFrom,
      podRunner: timedRunner,
    },
  });
  port.on("message", (message: { type?: string }) => {
    if (message.type !== "close") return;
    void kube?.close().then(() => {
      tell({ type: "closed" });
      port.close();
    });
  });
  tell({ type: "started", kubeconfigPath: kube.kubeconfigPath });
}
