import { clone, equals } from "@bufbuild/protobuf";
import {
  type Function as DispatchFunction,
  FunctionSchema,
  type FunctionSpec,
  FunctionSpecSchema,
  SourceSchema,
} from "@dispatch/proto";
import { ageColumn, nameColumn, shorten, statusColumn } from "./columns.js";
import { type Kind, metaOf, statusOf } from "./kind.js";
import { resourceOps } from "./resource-ops.js";

/** Functions (`fn`): code, runtime and scale. */
export const functionKind: Kind = {
  kind: "Function",
  singular: "function",
  plural: "functions",
  aliases: ["fn", "fns"],
  manifestAliases: [],
  schema: FunctionSchema,
  specSchema: FunctionSpecSchema,
  global: false,
  revealable: false,
  columns: [
    nameColumn,
    { header: "RUNTIME", value: (o) => (o as DispatchFunction).spec?.runtime || "-" },
    statusColumn,
    { header: "READY", value: (o) => String((o as DispatchFunction).status?.readyInstances ?? 0) },
    ageColumn,
    // Why it is not READY, or what just happened to it (a crash and its restart).
    { header: "REASON", value: (o) => shorten(statusOf(o)?.reason[0] ?? "", 70) || "-" },
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.functions, "function", false),
  // The server names the handler of a single-file source after the file when it
  // is left empty; for the same source, an empty handler means that one.
  withServerDefaults(spec, live) {
    const desired = spec as FunctionSpec;
    const current = live as FunctionSpec | undefined;
    if (desired.handler !== "" || !current?.handler) return spec;
    const same =
      desired.source !== undefined &&
      current.source !== undefined &&
      equals(SourceSchema, desired.source, current.source);
    if (!same) return spec;
    const completed = clone(FunctionSpecSchema, desired);
    completed.handler = current.handler;
    return completed;
  },
};
