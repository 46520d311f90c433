/**
 * The Dispatch API (package `dispatch.v1`): protobuf-es v2 messages and the
 * service descriptors that Connect clients and servers are built from.
 *
 * Envoy's v3 xDS types are exported separately from `@dispatch/proto/envoy`.
 */
export * from "./api-rules.js";
export * from "./endpoint-routes.js";
export * from "./gen/dispatch/v1/endpoint_pb.js";
export * from "./gen/dispatch/v1/event_pb.js";
export * from "./gen/dispatch/v1/function_pb.js";
export * from "./gen/dispatch/v1/log_pb.js";
export * from "./gen/dispatch/v1/meta_pb.js";
export * from "./gen/dispatch/v1/organization_pb.js";
export * from "./gen/dispatch/v1/run_pb.js";
export * from "./gen/dispatch/v1/secret_pb.js";
export * from "./gen/dispatch/v1/source_pb.js";
export * from "./gen/dispatch/v1/subscription_pb.js";
export * from "./gen/dispatch/v1/system_pb.js";
export * from "./gen/dispatch/v1/token_pb.js";
export * from "./media-types.js";
export * from "./quantity.js";
export * from "./upstream-headers.js";

import { file_dispatch_v1_endpoint } from "./gen/dispatch/v1/endpoint_pb.js";
import { file_dispatch_v1_event } from "./gen/dispatch/v1/event_pb.js";
import { file_dispatch_v1_function } from "./gen/dispatch/v1/function_pb.js";
import { file_dispatch_v1_log } from "./gen/dispatch/v1/log_pb.js";
import { file_dispatch_v1_organization } from "./gen/dispatch/v1/organization_pb.js";
import { file_dispatch_v1_run } from "./gen/dispatch/v1/run_pb.js";
import { file_dispatch_v1_secret } from "./gen/dispatch/v1/secret_pb.js";
import { file_dispatch_v1_source } from "./gen/dispatch/v1/source_pb.js";
import { file_dispatch_v1_subscription } from "./gen/dispatch/v1/subscription_pb.js";
import { file_dispatch_v1_system } from "./gen/dispatch/v1/system_pb.js";
import { file_dispatch_v1_token } from "./gen/dispatch/v1/token_pb.js";

/** Every file of the dispatch.v1 API (for registries and server reflection). */
export const apiFiles = [
  file_dispatch_v1_endpoint,
  file_dispatch_v1_event,
  file_dispatch_v1_function,
  file_dispatch_v1_log,
  file_dispatch_v1_organization,
  file_dispatch_v1_run,
  file_dispatch_v1_secret,
  file_dispatch_v1_source,
  file_dispatch_v1_subscription,
  file_dispatch_v1_system,
  file_dispatch_v1_token,
] as const;
