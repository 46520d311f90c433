import { type Endpoint, EndpointSchema, EndpointSpecSchema, parsePath, servedPath } from "@dispatch/proto";
import { ageColumn, listCell, nameColumn, shorten, statusColumn } from "./columns.js";
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
    { header: "HOSTS", value: (o) => listCell((o as Endpoint).spec?.hosts ?? [], "*") },
    { header: "PATHS", value: (o) => listCell(servedPaths(o as Endpoint)) },
    { header: "URL", value: (o) => (o as Endpoint).status?.urls[0] ?? "-" },
    statusColumn,
    ageColumn,
    { header: "REASON", value: (o) => shorten((o as Endpoint).status?.reason[0] ?? "", 70) || "-" },
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.endpoints, "endpoint", false),
};

/** The paths as the gateway serves them (another org's under /ORG when no host is named). */
function servedPaths(endpoint: Endpoint): string[] {
  const spec = endpoint.spec;
  if (!spec) return [];
  return spec.paths.map((path) => {
    const served = servedPath(endpoint.meta?.org ?? "", spec.hosts.length > 0, parsePath(path));
    return served.kind === "exact"
      ? served.path
      : served.kind === "prefix"
        ? `${served.prefix}*`
        : `~${served.regex}`;
  });
}
