/**
 * The Dispatch control plane: the dispatch.v1 API over Connect, gRPC and
 * gRPC-Web, resources in NATS JetStream KV, auth, and (later) the scheduler.
 */

export { newTokenSecret } from "./auth/token-registry.js";
export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from "./control-plane.js";
export { ConfigurationError } from "./errors.js";
export type { Driver, Instance, InstanceExit, RevisionSpec, WorkerLogLine } from "./functions/driver.js";
export { LoadError } from "./functions/driver.js";
export type { IsolationChoice, IsolationReport } from "./functions/isolation/isolation.js";
export { defaultFunctionLimits, type FunctionLimits } from "./functions/limits.js";
export type { RunRetention } from "./functions/run-store.js";
export { type FunctionDefaults, functionDefaults } from "./functions/scheduler.js";
export { natsServerBinary } from "./nats/nats-binary.js";
export {
  defaultReconnectWaitMs,
  type NatsConnectionSettings,
  natsDisplayUrl,
  parseNatsUrl,
} from "./nats/nats-connection.js";
export type { NatsHealth } from "./nats/nats-health.js";
export {
  attachNatsServer,
  checkNatsServer,
  NatsServerError,
  type NatsServerOptions,
  type NatsServerProcess,
  type NatsUserPassword,
  startNatsServer,
} from "./nats/nats-server.js";
export { createSealer, parseSecretKey, type Sealer } from "./secrets/sealer.js";
export type { Component } from "./services/system-service.js";
