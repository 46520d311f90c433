import type { Message } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type Run, RunSchema, Trigger } from "@dispatch/proto";
import { formatAge, formatDuration } from "../output/time.js";
import { statusColumn } from "./columns.js";
import { type Kind, metaOf } from "./kind.js";

/** What started a run, as `get runs` shows it: exec, http, or the event's type (and subscription). */
function triggerOf(run: Run): string {
  const spec = run.spec;
  switch (spec?.trigger) {
    case Trigger.EXEC:
      return "exec";
    case Trigger.HTTP:
      return "http";
    case Trigger.EVENT:
      return spec.subscription
        ? `event ${spec.event?.type ?? ""} (${spec.subscription})`
        : `event ${spec.event?.type ?? ""}`;
    default:
      return "-";
  }
}

/** Runs: the record of each call of a function; read only. */
export const runKind: Kind = {
  kind: "Run",
  singular: "run",
  plural: "runs",
  aliases: [],
  manifestAliases: [],
  schema: RunSchema,
  global: false,
  revealable: false,
  columns: [
    { header: "ID", value: (o) => metaOf(o)?.name ?? "" },
    { header: "FUNCTION", value: (o) => (o as Run).spec?.function ?? "" },
    { header: "TRIGGER", value: (o) => triggerOf(o as Run) },
    statusColumn,
    { header: "STARTED", value: (o, now) => ageAgo(formatAge((o as Run).status?.started, now)) },
    { header: "DURATION", value: (o) => formatDuration((o as Run).status?.duration) },
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => ({
    async get(ref) {
      const { run } = await c.runs.get({ org: ref.org, function: ref.parent ?? "", name: ref.name });
      if (!run) throw new ConnectError("the server's response has no run", Code.Internal);
      return run;
    },
    async list(scope) {
      const items: Message[] = [];
      let pageToken = "";
      do {
        const page = await c.runs.list({
          org: scope.org,
          function: scope.parent ?? "",
          options: { pageToken },
        });
        items.push(...page.items);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return items;
    },
  }),
};

/** When a run started (else when its record was made), in milliseconds; 0 when unknown. */
function runStartMs(run: Run): number {
  const t = run.status?.started ?? run.meta?.created;
  return t ? timestampMs(t) : 0;
}

/** Runs oldest first, by start time (ties keep their order). */
export function sortRuns<T extends Message>(runs: readonly T[]): T[] {
  return [...runs].sort((a, b) => runStartMs(a as unknown as Run) - runStartMs(b as unknown as Run));
}

/** The run that started last, if any. */
export function newestRun<T extends Message>(runs: readonly T[]): T | undefined {
  return sortRuns(runs).at(-1);
}

function ageAgo(age: string): string {
  return age === "-" ? age : `${age} ago`;
}
