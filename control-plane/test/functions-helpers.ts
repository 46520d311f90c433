import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson, type JsonValue, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  type Function as FunctionResource,
  FunctionService,
  type FunctionSpecSchema,
  Phase,
  type Run,
  RunService,
  SourceService,
  WatchEventType,
} from "@dispatch/proto";
import type { TestDispatch } from "@dispatch/testkit";
import { client } from "./helpers.js";

/** Typed clients for the function-related services of a test installation. */
export function functionClients(dispatch: TestDispatch, token = dispatch.token) {
  return {
    functions: client(FunctionService, dispatch.url, token),
    runs: client(RunService, dispatch.url, token),
    sources: client(SourceService, dispatch.url, token),
  };
}

type Clients = ReturnType<typeof functionClients>;

/** Uploads one file as a bundle and returns the Source to put in a spec. */
export async function uploadFile(api: Clients, filename: string, code: string) {
  const { source } = await api.sources.upload({
    format: "file",
    filename,
    data: new TextEncoder().encode(code),
  });
  if (!source) throw new Error("no source");
  return source;
}

/** Writes files to a temp dir and returns its path. */
export async function tempFiles(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-fn-"));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** Creates a function from one file and waits until it is READY or ERROR at its generation. */
export async function deploy(
  api: Clients,
  name: string,
  filename: string,
  code: string,
  spec: Omit<MessageInitShape<typeof FunctionSpecSchema>, "source" | "$typeName"> = {},
): Promise<FunctionResource> {
  const source = await uploadFile(api, filename, code);
  const runtime = filename.endsWith(".py") ? "python3" : "nodejs";
  await api.functions.create({ function: { meta: { name }, spec: { runtime, ...spec, source } as never } });
  return await settled(api, name);
}

/** Waits (through Watch) until the function is READY or ERROR at its current generation. */
export async function settled(api: Clients, name: string, timeoutMs = 90_000): Promise<FunctionResource> {
  const signal = AbortSignal.timeout(timeoutMs);
  for await (const event of api.functions.watch({ name }, { signal })) {
    if (event.type === WatchEventType.DELETED) throw new Error(`function ${name} was deleted`);
    const fn = event.object;
    const status = fn?.status;
    if (!fn || !status) continue;
    const done = status.phase === Phase.READY || status.phase === Phase.ERROR;
    if (done && status.observedGeneration === fn.meta?.generation) return fn;
  }
  throw new Error(`function ${name} did not settle`);
}

/** Waits (through Watch) until `check` holds for the function. */
export async function until(
  api: Clients,
  name: string,
  check: (fn: FunctionResource) => boolean,
  timeoutMs = 90_000,
) {
  const signal = AbortSignal.timeout(timeoutMs);
  for await (const event of api.functions.watch({ name }, { signal })) {
    if (event.object && check(event.object)) return event.object;
  }
  throw new Error(`function ${name}: condition not met`);
}

/**
 * Waits (through Watch) for the first finished run of the function: for calls
 * whose caller learns the outcome before the run is written (an HTTP answer
 * broken off).
 */
export async function finishedRun(api: Clients, fn: string, timeoutMs = 90_000): Promise<Run> {
  const signal = AbortSignal.timeout(timeoutMs);
  for await (const event of api.runs.watch({ function: fn }, { signal })) {
    const phase = event.object?.status?.phase;
    if (event.object && (phase === Phase.READY || phase === Phase.ERROR)) return event.object;
  }
  throw new Error(`no run of ${fn} finished`);
}

/** Runs a function and returns the run. */
export async function exec(
  api: Clients,
  name: string,
  input?: unknown,
  secrets: string[] = [],
): Promise<Run> {
  const { run } = await api.runs.create({
    run: {
      spec: {
        function: name,
        secrets,
        ...(input === undefined ? {} : { input: fromJson(ValueSchema, input as JsonValue) }),
      },
    },
  });
  if (!run) throw new Error("no run");
  return run;
}

export const helloJs = `export default async (context, payload) => {
  const { name = "Noone", place = "Nowhere" } = payload ?? {};
  return { myField: \`Hello, \${name} from \${place}\` };
};
`;

export const helloPy = `def handle(context, payload):
    payload = payload or {}
    name = payload.get("name", "Noone")
    place = payload.get("place", "Nowhere")
    return {"myField": "Hello, %s from %s" % (name, place)}
`;

/** A run's output as plain JSON. */
export function outputOf(run: Run): unknown {
  return run.status?.output ? toJson(ValueSchema, run.status.output) : undefined;
}
