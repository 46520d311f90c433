import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { durationFromMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  type Function as FunctionResource,
  FunctionService,
  Phase,
  RunService,
  SourceService,
  SystemService,
  WatchEventType,
} from "@dispatch/proto";

/** Connect clients for the function services, over HTTP/1.1 (binary protobuf, as the CLI) with the token. */
export function clients(baseUrl: string, token: string) {
  const transport: Transport = createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });
  return {
    functions: createClient(FunctionService, transport),
    runs: createClient(RunService, transport),
    sources: createClient(SourceService, transport),
    system: createClient(SystemService, transport),
  };
}

export type Clients = ReturnType<typeof clients>;

/** Uploads a one-file function (runtime from the extension) and creates it (does not wait). */
export async function createFunction(
  api: Clients,
  name: string,
  filename: string,
  code: string,
  scale: { min?: number; idleTimeoutMs?: number } = {},
): Promise<void> {
  const { source } = await api.sources.upload({
    format: "file",
    filename,
    data: new TextEncoder().encode(code),
  });
  const idle = scale.idleTimeoutMs;
  await api.functions.create({
    function: {
      meta: { name },
      spec: {
        runtime: filename.endsWith(".py") ? "python3" : "nodejs",
        ...(source ? { source } : {}),
        scale: {
          min: scale.min ?? 0,
          ...(idle === undefined ? {} : { idleTimeout: durationFromMs(idle) }),
        },
      },
    },
  });
}

/** Waits through Watch until `check` holds for the function. */
export async function waitFor(
  functions: Client<typeof FunctionService>,
  name: string,
  check: (fn: FunctionResource) => boolean,
  timeoutMs = 60_000,
): Promise<FunctionResource> {
  for await (const event of functions.watch({ name }, { signal: AbortSignal.timeout(timeoutMs) })) {
    if (event.type !== WatchEventType.SYNCED && event.object && check(event.object)) return event.object;
  }
  throw new Error(`function ${name}: condition not met`);
}

/** READY at its current generation. */
export const isReady = (fn: FunctionResource) =>
  fn.status?.phase === Phase.READY && fn.status.observedGeneration === fn.meta?.generation;

/** A blocking exec; throws when the run failed. */
export async function execOnce(
  runs: Client<typeof RunService>,
  name: string,
  input: JsonValue,
): Promise<void> {
  const { run } = await runs.create({
    run: { spec: { function: name, input: fromJson(ValueSchema, input) } },
  });
  if (run?.status?.phase !== Phase.READY) {
    throw new Error(`run failed: ${run?.status?.error?.message ?? "unknown"}`);
  }
}
