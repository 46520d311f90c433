import type { DescMessage } from "@bufbuild/protobuf";
import {
  CLUSTER_TYPE_URL,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ListenerSchema,
  ROUTE_TYPE_URL,
  RouteConfigurationSchema,
} from "@dispatch/proto/envoy";

/** The four xDS resource types the gateway subscribes to. */
export type ResourceKind = "listener" | "route" | "cluster" | "endpoint";

/** A resource type: its type URL, message, and what it is called in messages. */
export interface ResourceType {
  readonly kind: ResourceKind;
  readonly typeUrl: string;
  readonly schema: DescMessage;
  readonly label: string;
  /** The name a resource carries inside its message (which must equal its xDS name). */
  readonly nameOf: (message: unknown) => string;
}

/** The four types by kind. */
export const resourceTypes: Readonly<Record<ResourceKind, ResourceType>> = {
  listener: {
    kind: "listener",
    typeUrl: LISTENER_TYPE_URL,
    schema: ListenerSchema,
    label: "Listener",
    nameOf: (m) => (m as { name: string }).name,
  },
  route: {
    kind: "route",
    typeUrl: ROUTE_TYPE_URL,
    schema: RouteConfigurationSchema,
    label: "RouteConfiguration",
    nameOf: (m) => (m as { name: string }).name,
  },
  cluster: {
    kind: "cluster",
    typeUrl: CLUSTER_TYPE_URL,
    schema: ClusterSchema,
    label: "Cluster",
    nameOf: (m) => (m as { name: string }).name,
  },
  endpoint: {
    kind: "endpoint",
    typeUrl: ENDPOINT_TYPE_URL,
    schema: ClusterLoadAssignmentSchema,
    label: "ClusterLoadAssignment",
    nameOf: (m) => (m as { clusterName: string }).clusterName,
  },
};

/**
 * The order subscriptions are sent in: Envoy's dependency order for ADS
 * (listeners name routes, routes name clusters, clusters name endpoints).
 */
export const resourceKinds: readonly ResourceKind[] = ["listener", "route", "cluster", "endpoint"];

/** The kind of a type URL, or undefined for one the gateway does not subscribe to. */
export function kindOfTypeUrl(typeUrl: string): ResourceKind | undefined {
  return resourceKinds.find((k) => resourceTypes[k].typeUrl === typeUrl);
}
