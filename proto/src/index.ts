/**
 * The Dispatch API (package `dispatch.v1`): protobuf-es v2 messages and the
 * service descriptors that Connect clients and servers are built from.
 *
 * Envoy's v3 xDS types are exported separately from `@dispatch/proto/envoy`.
 */
export * from "./gen/dispatch/v1/endpoint_pb.js";
export * from "./gen/dispatch/v1/function_pb.js";
export * from "./gen/dispatch/v1/meta_pb.js";
export * from "./gen/dispatch/v1/organization_pb.js";
export * from "./gen/dispatch/v1/run_pb.js";
export * from "./gen/dispatch/v1/secret_pb.js";
export * from "./gen/dispatch/v1/subscription_pb.js";
export * from "./gen/dispatch/v1/system_pb.js";
export * from "./gen/dispatch/v1/token_pb.js";
