import type { Cluster, ClusterLoadAssignment, Listener, RouteConfiguration } from "@dispatch/proto/envoy";
import { type CompiledCluster, compileCluster } from "./cluster.js";
import { compileLoadAssignment, type EndpointSet } from "./endpoints.js";
import type { HttpFilterFactory } from "./filter-factory.js";
import { type CompiledListener, compileListener } from "./listener.js";
import { defaultMaxRegexProgramSize } from "./regex.js";
import { type CompiledRoutes, compileRouteConfiguration, type RouteTable } from "./route-table.js";

/** Compiles each xDS resource type; throws a ConfigError for one the gateway cannot apply. */
export interface ResourceCompiler {
  listener(message: Listener): CompiledListener;
  route(message: RouteConfiguration): RouteTable;
  cluster(message: Cluster): CompiledCluster;
  endpoint(message: ClusterLoadAssignment): EndpointSet;
}

/** What every compile shares: the HTTP filters, and the regex bound. */
export interface ResourceCompilerOptions {
  readonly factory: HttpFilterFactory;
  readonly maxRegexProgramSize?: number;
}

/** The compiler the xDS client validates (and compiles) every resource with. */
export function createResourceCompiler(options: ResourceCompilerOptions): ResourceCompiler {
  const maxRegexProgramSize = options.maxRegexProgramSize ?? defaultMaxRegexProgramSize;
  const shared = { factory: options.factory, maxRegexProgramSize };
  // Routes kept from one configuration to the next (the same Route object compiles once).
  const routes: CompiledRoutes = new WeakMap();
  return {
    listener: (message) => compileListener(message, shared),
    route: (message) => compileRouteConfiguration(message, shared, routes),
    cluster: (message) => compileCluster(message, maxRegexProgramSize),
    endpoint: (message) => compileLoadAssignment(message),
  };
}
