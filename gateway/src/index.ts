/**
 * The embedded gateway: Dispatch's data plane for one machine. A Delta ADS
 * client of the xds-server and an HTTP proxy that routes as the pushed Envoy
 * v3 resources say (Listener with the HTTP connection manager, RouteConfiguration,
 * Cluster, ClusterLoadAssignment; the CORS, JWT and local rate limit filters).
 * It reads only xDS: it knows nothing of Dispatch's own objects.
 */

export { type Gateway, type GatewayListen, type GatewayOptions, startGateway } from "./gateway.js";
export type { AccessLogEntry } from "./proxy/access-log.js";
export type { GatewaySnapshot } from "./route-table/snapshot.js";
export type { XdsEvent } from "./xds-client/xds-client.js";
