/**
 * The Dispatch API from a client's side, for the CLI and for every component
 * that runs apart from the control plane (xds-server, gateway, event broker):
 * the Connect transport, a typed client per service, and a watch cache that
 * follows one kind across reconnects.
 *
 * @example
 * import { createDispatchClients, createDispatchTransport, createWatchCache } from "@dispatch/client";
 * const clients = createDispatchClients(createDispatchTransport({ server, token, userAgent: "xds-server/0.1.0" }));
 * const endpoints = createWatchCache({ client: clients.endpoints, signal });
 * await endpoints.synced;
 */
export { createDispatchClients, createEventClient, type DispatchClients } from "./clients.js";
export { RequestTimeoutError } from "./request-timeout.js";
export { createDispatchTransport, type TransportOptions } from "./transport.js";
export type { WatchChange } from "./watch/change.js";
export type { Backoff } from "./watch/retry.js";
export {
  createWatchCache,
  type WatchableClient,
  type WatchCache,
  type WatchCacheOptions,
  type WatchReconnect,
  type WatchResponse,
  type WithMeta,
} from "./watch/watch-cache.js";
