import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ComponentStatusSchema,
  GetStatusResponseSchema,
  GetVersionResponseSchema,
  type SystemService,
} from "@dispatch/proto";

/** A component of a running installation, as `dispatch status` shows it. */
export interface Component {
  name: string;
  url: string;
  /** Returns undefined when healthy, else what is wrong. */
  check?(): string | undefined;
  /** A short description of what it is doing, shown when healthy (e.g. "3 functions, 1 instance"). */
  describe?(): string;
}

/** Version and component status of the installation. */
export function createSystemService(
  version: string,
  components: () => readonly Component[],
): ServiceImpl<typeof SystemService> {
  return {
    getVersion: async () => create(GetVersionResponseSchema, { version, node: process.version }),
    getStatus: async () => {
      const list = components();
      return create(GetStatusResponseSchema, {
        version,
        urls: Object.fromEntries(list.map((c) => [c.name, c.url])),
        components: list.map((c) => {
          const problem = c.check?.();
          return create(ComponentStatusSchema, {
            name: c.name,
            healthy: problem === undefined,
            message: problem ?? c.describe?.() ?? "",
          });
        }),
      });
    },
  };
}
