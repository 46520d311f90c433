import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  CreateRunResponseSchema,
  GetRunResponseSchema,
  ListRunsResponseSchema,
  type LogService,
  type Run,
  type RunService,
  SourceSchema,
  type SourceService,
  TailLogsResponseSchema,
  UploadSourceResponseSchema,
  WatchEventType,
  WatchRunsResponseSchema,
} from "@dispatch/proto";
import { principalOf, requireEventDeliverer, resolveOrg, resolveReadOrg } from "../auth/principal.js";
import { checkCloudEvent } from "../functions/cloud-event.js";
import type { Invoker } from "../functions/invoker.js";
import type { LogStore } from "../store/log-store.js";
import type { RunStore } from "../store/run-store.js";
import type { SourceStore } from "../store/source-store.js";
import { checkName, Violations } from "../validation/violations.js";
import { type PageSize, pageSizeFor } from "./resource-service.js";

function requireNames(fields: Record<string, string>, what: string): void {
  const v = new Violations();
  for (const [field, value] of Object.entries(fields)) checkName(v, field, value);
  v.throwIfAny(what);
}

/**
 * RunService: exec (Create) and reading run records. List pages oldest first
 * (`page_size`, bounded; `next_page_token` until the last page). Admins and
 * members run functions; components only read runs. Create with `spec.event`
 * delivers a CloudEvent to the function (trigger EVENT): the platform's event
 * broker does that, with a component token (admins may too).
 */
export function createRunService(
  invoker: Invoker,
  runs: RunStore,
  pageSize?: PageSize,
): ServiceImpl<typeof RunService> {
  return {
    async create(request, ctx) {
      const principal = principalOf(ctx);
      const run = request.run;
      const spec = run?.spec;
      if (!spec)
        throw new ConnectError('the request has no run: set "run.spec.function"', Code.InvalidArgument);
      // An event run is the platform delivering an event, not a client calling: only
      // the broker's component token (or an admin) asks for one, in any org.
      if (spec.event) requireEventDeliverer(principal);
      const org = spec.event
        ? resolveReadOrg(principal, run?.meta?.org ?? "", "run.meta.org")
        : resolveOrg(principal, run?.meta?.org ?? "", "run.meta.org", "run functions");
      const v = new Violations();
      checkName(v, "run.spec.function", spec.function);
      if (spec.subscription !== "") {
        if (!spec.event) v.add("run.spec.subscription", "is for event runs: set it only with run.spec.event");
        else checkName(v, "run.spec.subscription", spec.subscription);
      }
      for (const [i, name] of spec.secrets.entries()) checkName(v, `run.spec.secrets[${i}]`, name);
      if (spec.event) {
        checkCloudEvent(v, "run.spec.event", spec.event);
        if (spec.input) {
          v.add("run.spec.input", "must be empty with an event: the handler's payload is the event's data");
        }
      }
      v.throwIfAny("the run");
      // The trigger is the server's to say, from what the request carries:
      // EVENT with an event (components and admins only, above), else EXEC, whatever the
      // request claims (HTTP runs come from the activator, not from this RPC).
      const common = { org, function: spec.function, secrets: spec.secrets, async: spec.async };
      const result = await invoker.run(
        spec.event
          ? { ...common, wire: "event", event: spec.event, subscription: spec.subscription }
          : { ...common, wire: "invoke", input: spec.input },
      );
      return create(CreateRunResponseSchema, { run: result });
    },
    async get(request, ctx) {
      const org = resolveReadOrg(principalOf(ctx), request.org);
      requireNames({ function: request.function }, "the run request");
      if (!/^[0-9a-f-]{36}$/.test(request.name)) {
        throw new ConnectError(
          `"${request.name}" is not a run id (a UUID, as "dispatch get runs" shows)`,
          Code.InvalidArgument,
        );
      }
      const run = await runs.get(org, request.function, request.name);
      if (!run) {
        throw new ConnectError(
          `run "${request.name}" of function "${request.function}" not found in org "${org}"`,
          Code.NotFound,
        );
      }
      return create(GetRunResponseSchema, { run });
    },
    async list(request, ctx) {
      const org = resolveReadOrg(principalOf(ctx), request.org);
      // A function that does not exist (any more) has no runs: an empty list,
      // so a client can see that a deleted function's runs went with it.
      if (request.function !== "") requireNames({ function: request.function }, "the run request");
      const after = parseRunPageToken(request.options?.pageToken ?? "");
      const { runs: items, revision } = await runs.list(org, request.function || undefined);
      const size = pageSizeFor(request.options?.pageSize, pageSize);
      const sorted = items.map((run) => ({ run, position: runPosition(run) })).sort(byPosition);
      const rest = after ? sorted.filter((r) => byPosition(r, { position: after }) > 0) : sorted;
      const page = rest.slice(0, size);
      const last = page.at(-1);
      return create(ListRunsResponseSchema, {
        items: page.map((r) => r.run),
        revision: BigInt(revision),
        nextPageToken: rest.length > size && last ? runPageToken(last.position) : "",
      });
    },
    async *watch(request, ctx) {
      const org = resolveReadOrg(principalOf(ctx), request.org);
      if (request.function !== "") requireNames({ function: request.function }, "the run request");
      // A watch of a function that does not exist would wait forever, so it
      // fails as exec does. Checked once: when the function is deleted later,
      // its runs simply stop coming.
      if (request.function !== "") await invoker.functionOf(org, request.function);
      const resumeAfter = Number(request.resumeRevision);
      for await (const event of runs.watch(org, request.function || undefined, {
        resumeAfter,
        signal: ctx.signal,
      })) {
        if (event.type === "synced") {
          yield create(WatchRunsResponseSchema, {
            type: WatchEventType.SYNCED,
            revision: BigInt(event.revision),
          });
        } else {
          yield create(WatchRunsResponseSchema, {
            type: WatchEventType.MODIFIED,
            object: event.run,
            revision: BigInt(event.revision),
          });
        }
      }
    },
  };
}

/** Where a run sits in List order: when it started, then its id (unique). */
interface RunPosition {
  startedMs: number;
  id: string;
}

function runPosition(run: Run): RunPosition {
  const t = run.status?.started ?? run.meta?.created;
  return {
    startedMs: t ? timestampMs(t) : 0,
    id: run.meta?.name ?? "",
  };
}

function byPosition(a: { position: RunPosition }, b: { position: RunPosition }): number {
  const d = a.position.startedMs - b.position.startedMs;
  if (d !== 0) return d;
  return a.position.id < b.position.id ? -1 : a.position.id > b.position.id ? 1 : 0;
}

/** The token for the page after the run at `position`: opaque to clients. */
function runPageToken(position: RunPosition): string {
  return Buffer.from(`${position.startedMs}/${position.id}`).toString("base64url");
}

function parseRunPageToken(token: string): RunPosition | undefined {
  if (token === "") return undefined;
  const match = /^(\d{1,16})\/([0-9a-f-]{36})$/.exec(Buffer.from(token, "base64url").toString());
  if (!match?.[1] || !match[2]) {
    throw new ConnectError(
      `page_token "${token}" is not one this server gave: pass a List response's next_page_token as it is`,
      Code.InvalidArgument,
    );
  }
  return { startedMs: Number(match[1]), id: match[2] };
}

/** SourceService: bundle upload, with a size limit. */
export function createSourceService(
  sources: SourceStore,
  maxBytes: number,
): ServiceImpl<typeof SourceService> {
  return {
    async upload(request, ctx) {
      resolveOrg(principalOf(ctx), request.org, "org", "upload bundles");
      const v = new Violations();
      if (request.data.length === 0) v.add("data", "is empty");
      if (request.data.length > maxBytes) {
        v.add(
          "data",
          `the bundle is ${mib(request.data.length)}; the limit is ${mib(maxBytes)} (leave out what the function does not need, e.g. dev dependencies)`,
        );
      }
      if (request.format !== "file" && request.format !== "tar.gz") {
        v.add("format", `"${request.format}" is not a bundle format (use file or tar.gz)`);
      }
      if (request.format === "file" && !/^[^/\\]+$/.test(request.filename)) {
        v.add("filename", "is required for a single-file bundle (e.g. hello.js), without directories");
      }
      v.throwIfAny("the bundle");
      const digest = await sources.put(request.data);
      return create(UploadSourceResponseSchema, {
        source: create(SourceSchema, {
          digest,
          size: BigInt(request.data.length),
          format: request.format,
          filename: request.format === "file" ? request.filename : "",
        }),
      });
    },
  };
}

/** Finds a function, or fails with NotFound naming it and the org (the {@link Invoker} does). */
export interface FunctionLookup {
  functionOf(org: string, name: string): Promise<unknown>;
}

/**
 * LogService: a function's output, then (with follow) new lines as they are written.
 *
 * Tail of a function that does not exist in the org fails with NotFound (as
 * exec does) instead of printing nothing, or waiting forever with follow.
 */
export function createLogService(logs: LogStore, functions: FunctionLookup): ServiceImpl<typeof LogService> {
  return {
    async *tail(request, ctx) {
      const org = resolveReadOrg(principalOf(ctx), request.org);
      requireNames({ function: request.function }, "the log request");
      await functions.functionOf(org, request.function);
      for await (const line of logs.tail(org, request.function, {
        tail: request.tail || 100,
        follow: request.follow,
        signal: ctx.signal,
      })) {
        yield create(TailLogsResponseSchema, { line });
      }
    },
  };
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
