/**
 * The gRPC server reflection protocol, in both versions clients ask for:
 * `v1` first, then `v1alpha` (older grpcurl and buf curl releases).
 */
export * as v1 from "./gen/grpc/reflection/v1/reflection_pb.js";
export * as v1alpha from "./gen/grpc/reflection/v1alpha/reflection_pb.js";
