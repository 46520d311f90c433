import type { InstanceEndpoint, InstanceExit } from "@dispatch/server-kit";

/** An instance as the pool hands it to a caller: where and how to call it, and when it ended. */
export interface Instance extends InstanceEndpoint {
  /** Resolves once the driver reported it gone, with how it ended. */
  exited: Promise<InstanceExit>;
}
