import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import {
  ErrorType,
  type Function as FunctionResource,
  LogsSchema,
  Phase,
  type Run,
  RunErrorSchema,
  Trigger,
} from "@dispatch/proto";
import type { Principal } from "../auth/principal.js";
import type { Invoker } from "./invoker.js";
import type { Lease } from "./revision-pool.js";
import type { Scheduler } from "./scheduler.js";

/**
 * The most `Dispatch-Secrets` an HTTP call carries (base64). A worker accepts
 * a request head of 64 KiB (runtimes/CONTRACT.md) and the activator takes 16
 * KiB of the caller's own headers, so this always fits beside them.
 */
export const maxSecretsHeaderBytes = 32 * 1024;

/** A running activator. */
export interface Activator {
  url: string;
  close(): Promise<void>;
}

/**
 * The activator: HTTP requests to `/<org>/<function>/<path>` are held while
 * the function has no ready instance, the function is woken, and each
 * request is passed through to a worker's `/http/<path>` (runtimes/CONTRACT.md).
 * Every request becomes a Run (trigger HTTP) with the worker's logs and error.
 * The data plane (gateway or Envoy) sends traffic here when a function runs
 * no instance. Callers authenticate with a Dispatch token in the
 * `Dispatch-Token` header (admin, or a member of the function's org).
 */
export async function startActivator(
  invoker: Invoker,
  scheduler: Scheduler,
  authenticate: (token: string) => Principal | undefined,
  host: string,
  port: number,
  unavailable: () => Error | undefined = () => undefined,
): Promise<Activator> {
  const server: Server = createServer((req, res) => {
    // Without NATS a call could not be recorded: refused at once, saying why.
    const down = unavailable();
    if (down) return sendError(res, 503, down.message);
    void forward(invoker, scheduler, authenticate, req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { type: "SystemError", message: (err as Error).message } }));
      } else {
        res.destroy();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

async function forward(
  invoker: Invoker,
  scheduler: Scheduler,
  authenticate: (token: string) => Principal | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const match = /^\/([a-z0-9-]+)\/([a-z0-9-]+)(\/[^?]*)?(\?.*)?$/.exec(req.url ?? "");
  if (!match) {
    return sendError(res, 404, "use /<org>/<function>/<path>");
  }
  const [, org = "", name = "", path = "/", query = ""] = match;
  // Only the platform (the gateway, tools with a token) may call functions
  // here: the call runs with the function's secrets. The token travels in its
  // own header so the caller's Authorization header reaches the function.
  const token = req.headers["dispatch-token"];
  const principal = typeof token === "string" ? authenticate(token) : undefined;
  if (!principal) {
    return sendError(res, 401, `the activator needs a Dispatch token in the "Dispatch-Token" header`);
  }
  if (principal.org !== undefined && principal.org !== org) {
    return sendError(
      res,
      403,
      `token "${principal.token}" belongs to org "${principal.org}" and cannot call functions of org "${org}"`,
    );
  }
  // The client may leave at any point, even before anything is awaited.
  const aborted = new AbortController();
  res.once("close", () => {
    if (!res.writableEnded) aborted.abort();
  });
  const fn = await invoker.functionOf(org, name).catch(() => undefined);
  if (!fn) {
    return sendError(res, 404, `function "${name}" not found in org "${org}"`);
  }
  const run = invoker.newRun(
    { org, function: name, input: undefined, secrets: [], trigger: Trigger.HTTP },
    fn,
  );
  const secrets = await invoker.secretsFor(org, fn);
  if ("missing" in secrets) {
    sendError(res, 400, secrets.missing);
    if (run.status) {
      run.status.phase = Phase.ERROR;
      run.status.error = create(RunErrorSchema, { type: ErrorType.INPUT_ERROR, message: secrets.missing });
      run.status.reason = [`InputError: ${secrets.missing}`];
    }
    await invoker.complete(run);
    return;
  }
  const secretsHeader = Buffer.from(JSON.stringify(secrets.secrets)).toString("base64");
  if (secretsHeader.length > maxSecretsHeaderBytes) {
    // Refused before waking the function: the worker could not take the call.
    const message = `the function's secrets take ${secretsHeader.length} bytes in the Dispatch-Secrets header; an HTTP call carries at most ${maxSecretsHeaderBytes} (runtimes/CONTRACT.md): keep the secrets of a function called over HTTP smaller, or call it with dispatch exec`;
    sendError(res, 500, message);
    if (run.status) {
      run.status.phase = Phase.ERROR;
      run.status.error = create(RunErrorSchema, { type: ErrorType.SYSTEM_ERROR, message });
      run.status.reason = [`SystemError: ${message}`];
    }
    await invoker.complete(run);
    return;
  }
  const timeoutMs = timeoutOf(fn);
  const status = run.status;
  let lease: Lease;
  try {
    ({ lease } = await scheduler.acquire(
      org,
      name,
      AbortSignal.any([aborted.signal, AbortSignal.timeout(timeoutMs)]),
    ));
  } catch (err) {
    // Nothing could serve it (ERROR, deleted, no instance in time, client gone): still a run.
    const message = aborted.signal.aborted
      ? "the client went away while the function was waking"
      : (err as Error).message;
    if (status) {
      status.phase = Phase.ERROR;
      status.error = create(RunErrorSchema, { type: ErrorType.SYSTEM_ERROR, message });
      status.reason = [`SystemError: ${message}`];
    }
    if (!res.headersSent) sendError(res, 503, message);
    await invoker.complete(run);
    return;
  }
  try {
    // Settles when the answer has been passed on, or the exchange broke off
    // (worker gone, past the deadline, client gone); the slot is released then.
    const failure = await new Promise<string | undefined>((resolve) => {
      const upstream = request(
        `${lease.instance.url}/http${path}${query}`,
        {
          method: req.method,
          headers: {
            ...withoutToken(req.headers),
            "dispatch-run-id": run.meta?.name ?? "",
            "dispatch-worker-token": lease.instance.token,
            "dispatch-secrets": secretsHeader,
          },
        },
        (answer) => {
          recordAnswer(run, answer.statusCode ?? 0, answer.statusMessage ?? "", answer.headers);
          const headers = { ...answer.headers };
          delete headers["dispatch-logs"];
          delete headers["dispatch-error"];
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
          answer.once("end", () => resolve(undefined));
          answer.once("error", (err) => resolve(`the worker's answer broke off: ${err.message}`));
        },
      );
      upstream.setTimeout(timeoutMs + 2000, () =>
        upstream.destroy(new Error(`the call did not finish within ${Math.round(timeoutMs / 1000)}s`)),
      );
      upstream.once("error", (err) => resolve(`the worker did not answer: ${err.message}`));
      res.once("close", () => {
        if (!res.writableFinished) {
          upstream.destroy();
          resolve("the client went away before the answer was complete");
        }
      });
      req.pipe(upstream);
    });
    if (failure !== undefined) {
      if (status) {
        status.phase = Phase.ERROR;
        status.error = create(RunErrorSchema, { type: ErrorType.SYSTEM_ERROR, message: failure });
        status.reason = [`SystemError: ${failure}`];
      }
      // Before the answer started the client gets an error; after, the only
      // honest signal left is to break the connection off.
      if (!res.headersSent) sendError(res, 502, failure);
      else if (!res.writableEnded) res.destroy();
    }
  } finally {
    lease.release();
  }
  await invoker.complete(run);
}

/**
 * Copies the worker's Dispatch-Logs and Dispatch-Error headers into the run.
 * An answer without Dispatch-Logs did not come from a call of the handler
 * (the worker refused the request: a head too large, draining, ...), so the
 * run is a SystemError, whatever the status code.
 */
function recordAnswer(run: Run, code: number, text: string, headers: IncomingHttpHeaders): void {
  const status = run.status;
  if (!status) return;
  if (headers["dispatch-logs"] === undefined) {
    const message = `the worker refused the request: HTTP ${code}${text ? ` ${text}` : ""}`;
    status.phase = Phase.ERROR;
    status.error = create(RunErrorSchema, { type: ErrorType.SYSTEM_ERROR, message });
    status.reason = [`SystemError: ${message}`];
    return;
  }
  const logs = decodeHeader(headers["dispatch-logs"]) as { stdout?: string[]; stderr?: string[] } | undefined;
  const error = decodeHeader(headers["dispatch-error"]) as
    | { type?: string; message?: string; stack?: string[] }
    | undefined;
  status.logs = create(LogsSchema, { stdout: logs?.stdout ?? [], stderr: logs?.stderr ?? [] });
  status.phase = error ? Phase.ERROR : Phase.READY;
  if (error) {
    const type =
      error.type === "InputError"
        ? ErrorType.INPUT_ERROR
        : error.type === "FunctionError"
          ? ErrorType.FUNCTION_ERROR
          : ErrorType.SYSTEM_ERROR;
    status.error = create(RunErrorSchema, { type, message: error.message ?? "", stack: error.stack ?? [] });
    status.reason = [`${error.type}: ${error.message}`];
  }
}

/** The function's call deadline in milliseconds (30 s when unset). */
function timeoutOf(fn: FunctionResource): number {
  const t = fn.spec?.timeout;
  return t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : 30_000;
}

function decodeHeader(value: string | string[] | undefined): unknown {
  if (typeof value !== "string" || value === "") return undefined;
  try {
    return JSON.parse(Buffer.from(value, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
}

/** A JSON error answer: the caller's mistake (4xx) is an InputError, the platform's (5xx) a SystemError. */
function sendError(res: ServerResponse, status: number, message: string): void {
  const type = status >= 500 ? "SystemError" : "InputError";
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { type, message } }));
}

function withoutToken(headers: IncomingMessage["headers"]): IncomingMessage["headers"] {
  const { "dispatch-token": _token, ...rest } = headers;
  return rest;
}
