/**
 * The Kubernetes driver of Dispatch: function revisions as Deployments of
 * their runtime image, scaled through `/scale`, their instances read from
 * EndpointSlices, and leader election with a `coordination.k8s.io/v1` Lease.
 * The control plane loads it only with `--driver kubernetes`, so nothing else
 * loads `@kubernetes/client-node`.
 */

export {
  type ConnectKubeOptions,
  connectKube,
  type KubeApi,
  KubeApiError,
  KubeConfigError,
  KubeConnectionError,
  type KubeRequest,
  type Query,
  type WatchEvent,
} from "./kube-api.js";
export {
  createKubernetesDriver,
  type KubernetesDriver,
  type KubernetesDriverOptions,
} from "./kubernetes-driver.js";
export {
  type LeaderElection,
  type LeaderElectionOptions,
  startLeaderElection,
} from "./leader-election.js";
export { FIELD_MANAGER, functionPodLabels, MANAGED_BY, revisionName } from "./resources/revision-objects.js";
