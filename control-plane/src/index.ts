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
export type { RunRetention } from "./functions/run-store.js";
export { type FunctionDefaults, functionDefaults } from "./functions/scheduler.js";
export { natsServerBinary } from "./nats-binary.js";
export { createSealer, parseSecretKey, type Sealer } from "./secrets/sealer.js";
export type { Component } from "./services/system-service.js";
