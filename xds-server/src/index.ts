/**
 * The xds-server: Dispatch's Endpoints and Functions as Envoy v3 configuration,
 * served over ADS to Envoy, the embedded gateway and gRPC clients.
 *
 * `translate/` (snapshot → IR → Envoy resources, pure) · `check/` (Envoy's PGV
 * rules) · `cache/` (resources encoded once, versioned by content) ·
 * `server/` (ADS, SotW and Delta, on gRPC). `startXdsServer` composes them.
 */

export type { CachedResource } from "./cache/cached-resource.js";
export { cacheResource } from "./cache/cached-resource.js";
export type { ResourceRef } from "./cache/references.js";
export { referencesOf } from "./cache/references.js";
export { createResourceMemo, encodeRouteConfiguration, type ResourceMemo } from "./cache/resource-memo.js";
export {
  type CacheChange,
  createSnapshotCache,
  type ResourceInput,
  type SnapshotCache,
} from "./cache/snapshot-cache.js";
export { type CheckMemo, checkMessage, type Violation } from "./check/pgv.js";
export {
  createEndpointConfigs,
  type EndpointConfigs,
  endpointConfigs,
} from "./controller/endpoint-configs.js";
export { endpointConditions, endpointStatus, sameStatus } from "./controller/endpoint-status.js";
export {
  type IngressController,
  type IngressControllerOptions,
  startIngressController,
} from "./controller/ingress-controller.js";
export {
  createRolloutTracker,
  type EndpointConfig,
  type ResourceKey,
  type Rollout,
  type RolloutTracker,
} from "./controller/rollout-tracker.js";
export * from "./ir/ir.js";
export {
  type AdsServer,
  type AdsServerOptions,
  maxRequestBytes,
  startAdsServer,
} from "./server/ads-server.js";
export { createNackTracker, type NackTracker, type NackTrackerOptions } from "./server/nack-tracker.js";
export { inPushOrder, pushOrder } from "./server/push-rules.js";
export type { AckEvent, ClientInfo, NackEvent, NodeInfo } from "./server/session-types.js";
export { type ApiTranslation, translateApiToIr } from "./translate/api-to-ir.js";
export { metadataNamespace } from "./translate/envoy-clusters.js";
export { filterNames } from "./translate/envoy-listener.js";
export { type EnvoyResources, type ResourceOwner, translateIrToEnvoy } from "./translate/ir-to-envoy.js";
export { type HostRoute, TranslationMemo } from "./translate/memo.js";
export {
  type ResolvedTranslateOptions,
  resolveTranslateOptions,
  type TranslateOptions,
} from "./translate/options.js";
export type { EndpointProblem, IngressSnapshot, ProblemReason } from "./translate/snapshot.js";
export {
  type IngressTranslation,
  type ResourceCheck,
  resourceList,
  translateIngress,
  type XdsResource,
} from "./translate/translate-ingress.js";
export {
  type IngressUpdate,
  startXdsServer,
  type XdsServer,
  type XdsServerOptions,
} from "./xds-server.js";
