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
  type LeaderElection,
  type LeaderElectionOptions,
  startLeaderElection,
} from "./leader-election.js";
