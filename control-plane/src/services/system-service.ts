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
            message: problem ?? "",
          });
        }),
      });
    },
  };
}
