import { type Endpoint, EndpointSchema, EndpointSpecSchema } from "@dispatch/proto";
import { ageColumn, listCell, nameColumn, statusColumn } from "./columns.js";
import { type Kind, metaOf } from "./kind.js";
import { resourceOps } from "./resource-ops.js";

/** Endpoints (`api`): HTTP routes to functions. */
export const endpointKind: Kind = {
  kind: "Endpoint",
  singular: "endpoint",
  plural: "endpoints",
  aliases: ["api", "apis"],
  manifestAliases: ["API"],
  schema: EndpointSchema,
  specSchema: EndpointSpecSchema,
  global: false,
  revealable: false,
  columns: [
    nameColumn,
    {
      header: "FUNCTION",
      value: (o) => {
        const spec = (o as Endpoint).spec;
        if (spec?.function) return spec.function;
        return listCell((spec?.backends ?? []).map((b) => `${b.function}:${b.weight}`));
      },
    },
    { header: "METHODS", value: (o) => listCell((o as Endpoint).spec?.methods ?? [], "*") },
    { header: "PATHS", value: (o) => listCell((o as Endpoint).spec?.paths ?? []) },
    statusColumn,
    ageColumn,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.endpoints, "endpoint", false),
};
