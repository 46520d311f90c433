/**
 * The Dispatch control plane: the dispatch.v1 API over Connect, gRPC and
 * gRPC-Web, resources in NATS JetStream KV, auth, and the function machinery
 * (scheduler, invoker, activator, the local driver). Its NATS connection
 * settings, the nats-server launcher and the `Driver` contract come from
 * `@dispatch/server-kit`.
 */

export { newTokenSecret } from "./auth/token-registry.js";
export { type ControlPlane, type ControlPlaneOptions, startControlPlane } from "./control-plane.js";
export { ConfigurationError } from "./errors.js";
export {
  type CredentialClaims,
  createInstanceCredentials,
  type InstanceCredentialAuthority,
} from "./functions/instance-credentials.js";
export type { IsolationChoice } from "./functions/isolation/isolation.js";
export { defaultFunctionLimits, type FunctionLimits } from "./functions/limits.js";
export { type FunctionDefaults, functionDefaults } from "./functions/scheduler.js";
export { createSealer, parseSecretKey, type Sealer } from "./secrets/sealer.js";
export type { Component } from "./services/system-service.js";
export type { RunRetention } from "./store/run-store.js";
