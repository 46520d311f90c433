/**
 * Test helpers: real servers on free ports for integration tests.
 */

export { type StartDispatchOptions, startDispatch, type TestDispatch } from "./dispatch.js";
export type { PodFailure, PodMatch, PodProcess, PodRunner } from "./fake-kube/cluster/kubelet.js";
export type { ClusterOptions, FakeCluster } from "./fake-kube/cluster/simulated-cluster.js";
export type { Kubeconfig } from "./fake-kube/kubeconfig.js";
export type { RequestMatch, RequestRecord, Verb } from "./fake-kube/request-faults.js";
export {
  type FakeKube,
  type InjectedFault,
  type StartFakeKubeOptions,
  startFakeKube,
  type WatchInfo,
} from "./fake-kube/start-fake-kube.js";
export { KubeStatusError } from "./fake-kube/status-error.js";
export { matchGolden } from "./golden.js";
export {
  kubernetesDriverFactory,
  objectsOfFunction,
  type StartKubeDispatchOptions,
  startKubeDispatch,
  startRuntimeCluster,
  type TestKubeDispatch,
} from "./kube-dispatch.js";
export { freePort, type NatsServer, type StartNatsOptions, stablePort, startNats } from "./nats-server.js";
export { type Rendezvous, startRendezvous } from "./rendezvous.js";
export { type RuntimePodRunnerOptions, runtimePodRunner, type SecretReader } from "./runtime-pods.js";
export { startTcpRelay, type TcpRelay } from "./tcp-relay.js";
