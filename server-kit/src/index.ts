/**
 * What every Dispatch server process is built from: the one-port HTTP/1.1 +
 * h2c listener, the request gate, health answers, the reconcile kit (work
 * queue, retries, resync, leader gate, conditions, status writes with
 * retries), NATS: the nats-server launcher, connection settings, health, and
 * the collector settings of a process that proxies requests.
 *
 * It imports only `@dispatch/proto` and third-party packages, so that every
 * server (control plane, xds-server, event broker, gateway) may use it.
 */

export type {
  BundleRef,
  BundleSource,
  Driver,
  DriverFactory,
  DriverHost,
  InstanceCredentials,
  InstanceEndpoint,
  InstanceEvent,
  InstanceExit,
  IsolationReport,
  RevisionRef,
  RevisionSpec,
  ScaleOptions,
  WorkerLogLine,
} from "./driver/driver.js";
export { describeExit, LoadError, revisionKey } from "./driver/driver.js";
export { ConfigurationError, NatsUnavailableError } from "./errors.js";
export {
  createErrorInterceptor,
  type ErrorClass,
  type ErrorMapping,
  toConnectError,
} from "./http/error-interceptor.js";
export { createHealthAnswers, type ReadinessCheck } from "./http/health.js";
export { type DualServer, listenDual } from "./http/listen-dual.js";
export { bearerToken, createRequestGate, type RequestGateOptions } from "./http/request-gate.js";
export { natsServerBinary } from "./nats/nats-binary.js";
export {
  connectNats,
  defaultReconnectWaitMs,
  type NatsConnectionSettings,
  natsDisplayUrl,
  parseNatsUrl,
} from "./nats/nats-connection.js";
export { type NatsHealth, sharedHealth, shareHealth, trackNatsHealth } from "./nats/nats-health.js";
export { isNatsOutage } from "./nats/nats-outage.js";
export {
  attachNatsServer,
  checkNatsServer,
  NatsServerError,
  type NatsServerOptions,
  type NatsServerProcess,
  type NatsUserPassword,
  startNatsServer,
} from "./nats/nats-server.js";
export { type CollectorTuning, tuneCollectorForProxying } from "./process/collector.js";
export { type BackoffOptions, backoffDelay, defaultBackoff } from "./reconcile/backoff.js";
export { findCondition, markFalse, markTrue, markUnknown, setCondition } from "./reconcile/conditions.js";
export type { ReconcileEvent } from "./reconcile/events.js";
export { createLeaderGate, type LeaderGate, type SettableLeaderGate } from "./reconcile/leader-gate.js";
export {
  createReconciler,
  ReconcileCancelledError,
  type ReconcileRequest,
  type Reconciler,
  type ReconcilerOptions,
} from "./reconcile/reconciler.js";
export { systemTimers, type Timers } from "./reconcile/timers.js";
export {
  UpdateConflictError,
  type UpdateOutcome,
  type UpdateWithRetriesOptions,
  updateWithRetries,
} from "./reconcile/update-with-retries.js";
