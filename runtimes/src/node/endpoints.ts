import { createHash, timingSafeEqual } from "node:crypto";
import {
  type IncomingMessage,
  type ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from "node:http";
import {
  type CallError,
  type CallLogs,
  STATS_PATH,
  WORKER_TOKEN_HEADER,
  type WorkerStats,
} from "../contract.js";
import { encodeReplyEvent, eventAttributes, InvalidEventError, isReplyEvent } from "./cloudevents.js";
import type { WorkerConfig } from "./config.js";
import type { Handler } from "./load-handler.js";
import { encodeJson, headersObject, paramsObject, payloadFromBody } from "./payload.js";
import { type CallInput, type CallResult, runCall } from "./run-call.js";

/** What the endpoints and the drain share. */
export interface WorkerState {
  /** Set by SIGTERM: `/healthz` answers 503 and new calls are refused. */
  draining: boolean;
  /** The responses of calls accepted and not yet answered. */
  inFlight: Set<ServerResponse>;
  /** Calls accepted since the worker started (`GET /stats`). */
  calls: number;
  /** When (`performance.now()`) the last call ended, or the worker started: what `idleMs` counts from. */
  lastActive: number;
  /** Called each time a call has been answered. */
  onCallDone(): void;
}

/** A reply to an HTTP-shaped call (`/http`, `/event`). */
interface RawReply {
  status: number;
  headers: Record<string, string | number | string[]>;
  body: Buffer;
}

/** Headers carrying a run's record stay within this many characters each (Node clients take 16 KiB in all). */
const LOGS_HEADER_MAX = 8192;
const ERROR_HEADER_MAX = 4096;

const FRAMING = new Set(["content-length", "transfer-encoding", "connection"]);

/**
 * The worker's HTTP routes (CONTRACT.md "Endpoints"): `/healthz`, `/invoke`,
 * `/http/*` and `/event`, calling `handler` for the last three.
 */
export function createRequestListener(
  config: WorkerConfig,
  handler: Handler,
  state: WorkerState,
): (req: IncomingMessage, res: ServerResponse) => void {
  const call = <R>(
    input: Omit<CallInput, "functionName" | "deadline"> & Partial<CallInput>,
    toReply: (value: unknown) => R,
  ) =>
    runCall(
      handler,
      {
        functionName: config.functionName,
        deadline: config.timeoutMs > 0 ? new Date(input.receivedAt + config.timeoutMs) : null,
        ...input,
      },
      toReply,
    );

  const expected = createHash("sha256").update(config.workerToken).digest();
  /** Whether the request carries the instance's credential; compared in constant time. */
  const authorized = (req: IncomingMessage) => {
    const given = req.headers[WORKER_TOKEN_HEADER];
    if (typeof given !== "string") return false;
    return timingSafeEqual(createHash("sha256").update(given).digest(), expected);
  };

  const invoke = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    _: URL,
    receivedAt: number,
  ) => {
    if (req.method !== "POST") return sendMethodNotAllowed(res, "POST");
    let input: Partial<CallInput> & { payload: unknown };
    try {
      input = parseInvokeRequest(body);
    } catch (error) {
      return sendJson(res, 400, {
        error: failure("InputError", `invalid invoke request: ${messageOf(error)}`),
      });
    }
    const result = await call(
      { secrets: {}, event: null, http: null, runId: null, receivedAt, ...input },
      (value) => (value === undefined ? "null" : encodeJson(value)),
    );
    const output = result.ok ? result.reply : "null";
    const rest = JSON.stringify({
      error: result.ok ? null : result.error,
      logs: result.logs,
      durationMs: result.durationMs,
    });
    send(res, 200, { "content-type": "application/json" }, `{"output":${output},${rest.slice(1)}`);
  };

  const http = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    url: URL,
    receivedAt: number,
  ) => {
    const query = paramsObject(url.searchParams);
    const { secrets, runId } = callHeaders(req);
    const context = {
      method: req.method ?? "GET",
      path: url.pathname.slice("/http".length) || "/",
      query,
      headers: headersObject(withoutCallHeaders(req.headers)),
    };
    let payload: unknown;
    try {
      payload = payloadFromBody(body, req.headers["content-type"], query);
    } catch (error) {
      return sendFailure(res, failure("InputError", `request body is not valid JSON: ${messageOf(error)}`));
    }
    const result = await call(
      { payload, secrets, event: null, http: context, runId, receivedAt },
      toHttpReply,
    );
    sendRaw(res, result);
  };

  const event = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    _: URL,
    receivedAt: number,
  ) => {
    if (req.method !== "POST") return sendMethodNotAllowed(res, "POST");
    let attributes: Record<string, string>;
    let data: unknown;
    try {
      attributes = eventAttributes(req.headers);
      data = payloadFromBody(body, req.headers["content-type"], null);
    } catch (error) {
      const message =
        error instanceof InvalidEventError
          ? error.message
          : `event data is not valid JSON: ${messageOf(error)}`;
      return sendFailure(res, failure("InputError", message));
    }
    const { secrets, runId } = callHeaders(req);
    const result = await call(
      { payload: data, secrets, event: attributes, http: null, runId, receivedAt },
      toEventReply,
    );
    sendRaw(res, result);
  };

  return (req, res) => {
    const receivedAt = Date.now();
    const url = new URL(req.url ?? "/", "http://worker");
    const path = url.pathname;
    // A draining worker closes every connection it answers on, and says so (see closeAfterReply).
    if (state.draining) closeAfterReply(res);
    if (path === "/healthz") {
      return state.draining
        ? sendJson(res, 503, { status: "draining" })
        : sendJson(res, 200, { status: "ok" });
    }
    const route =
      path === "/invoke"
        ? invoke
        : path === "/event"
          ? event
          : path === "/http" || path.startsWith("/http/")
            ? http
            : undefined;
    if (!authorized(req)) {
      // The body is not read: the connection cannot carry another request.
      res.setHeader("connection", "close");
      return sendJson(res, 401, {
        error: failure(
          "SystemError",
          `this worker takes calls only from Dispatch: the ${WORKER_TOKEN_HEADER} header is missing or wrong`,
        ),
      });
    }
    if (path === STATS_PATH) {
      if (req.method !== "GET") return sendMethodNotAllowed(res, "GET");
      // Not a call: it neither counts nor makes the worker busy (CONTRACT.md "Load report").
      req.resume();
      return sendJson(res, 200, statsOf(state));
    }
    if (route === undefined) {
      return sendJson(res, 404, { error: failure("SystemError", `no such endpoint: ${path}`) });
    }
    if (state.draining) {
      return sendJson(res, 503, { error: failure("SystemError", "the worker is shutting down") });
    }
    state.inFlight.add(res);
    state.calls++;
    res.once("close", () => {
      state.inFlight.delete(res);
      state.lastActive = performance.now();
      state.onCallDone();
    });
    readBody(req)
      .then((body) => route(req, res, body, url, receivedAt))
      .catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: failure("SystemError", messageOf(error)) });
        else res.destroy();
      });
  };
}

/** The worker's load report: calls in flight (whoever sent them) and how long it has been idle. */
export function statsOf(state: WorkerState): WorkerStats {
  const inFlight = state.inFlight.size;
  return {
    inFlight,
    idleMs: inFlight > 0 ? 0 : Math.max(0, Math.floor(performance.now() - state.lastActive)),
    calls: state.calls,
    draining: state.draining,
  };
}

/**
 * Makes `res` close its connection once sent, with `Connection: close` (RFC 9112 §9.6), so
 * that a keep-alive client (undici's pool) does not send its next request down a connection
 * that is closing. Too late once the headers are out: that answer's connection stays open.
 */
export function closeAfterReply(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader("connection", "close");
}

/** Checks the `/invoke` body against the contract; throws with what is wrong. */
function parseInvokeRequest(body: Buffer): Partial<CallInput> & { payload: unknown } {
  const request: unknown = JSON.parse(body.toString("utf8"));
  if (!isObject(request)) throw new Error("the body must be a JSON object");
  const context = request.context ?? {};
  if (!isObject(context)) throw new Error("context must be an object");
  const input: Partial<CallInput> & { payload: unknown } = { payload: request.payload ?? null };
  const { secrets, deadline, event, http, runId } = context;
  if (secrets != null) {
    if (!isObject(secrets)) throw new Error("context.secrets must be an object");
    input.secrets = secrets as Record<string, string>;
  }
  if (deadline != null) {
    const at = typeof deadline === "string" ? new Date(deadline) : undefined;
    if (at === undefined || Number.isNaN(at.getTime()))
      throw new Error("context.deadline must be an RFC 3339 time");
    input.deadline = at;
  }
  if (event != null && !isObject(event)) throw new Error("context.event must be an object");
  if (http != null && !isObject(http)) throw new Error("context.http must be an object");
  input.event = event ?? null;
  input.http = http ?? null;
  for (const name of ["function", "runId"] as const) {
    if (context[name] != null && typeof context[name] !== "string")
      throw new Error(`context.${name} must be a string`);
  }
  if (typeof context.function === "string") input.functionName = context.function;
  input.runId = typeof runId === "string" ? runId : null;
  return input;
}

/** A `{statusCode, headers, body}` result is the response; anything else is JSON with 200. */
function toHttpReply(value: unknown): RawReply {
  if (!isObject(value) || typeof value.statusCode !== "number") {
    return {
      status: 200,
      headers: { "content-type": "application/json" },
      body: Buffer.from(encodeJson(value ?? null)),
    };
  }
  const { statusCode, headers = {}, body } = value;
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    throw new Error(`statusCode must be a whole number from 100 to 599, not ${statusCode}`);
  }
  if (!isObject(headers)) throw new Error("headers must be an object");
  const out: RawReply["headers"] = {};
  for (const [name, headerValue] of Object.entries(headers)) {
    // The worker frames the body itself.
    if (headerValue === undefined || headerValue === null || FRAMING.has(name.toLowerCase())) continue;
    const text = Array.isArray(headerValue) ? headerValue.map(String) : String(headerValue);
    validateHeaderName(name);
    for (const part of Array.isArray(text) ? text : [text]) validateHeaderValue(name, part);
    out[name.toLowerCase()] = text;
  }
  let bytes: Buffer;
  let type: string;
  if (body === undefined || body === null) [bytes, type] = [Buffer.alloc(0), ""];
  else if (typeof body === "string") [bytes, type] = [Buffer.from(body), "text/plain; charset=utf-8"];
  else if (body instanceof Uint8Array) [bytes, type] = [Buffer.from(body), "application/octet-stream"];
  else [bytes, type] = [Buffer.from(encodeJson(body)), "application/json"];
  if (type !== "" && out["content-type"] === undefined) out["content-type"] = type;
  return { status: statusCode, headers: out, body: bytes };
}

/** Null is `204`; `{type, source, data}` is a reply event; anything else is JSON with 200. */
function toEventReply(value: unknown): RawReply {
  if (value === undefined || value === null) return { status: 204, headers: {}, body: Buffer.alloc(0) };
  if (isReplyEvent(value)) return { status: 200, ...encodeReplyEvent(value) };
  return {
    status: 200,
    headers: { "content-type": "application/json" },
    body: Buffer.from(encodeJson(value)),
  };
}

function sendRaw(res: ServerResponse, result: CallResult<RawReply>): void {
  if (result.ok) {
    const { status, headers, body } = result.reply;
    send(res, status, { ...headers, "dispatch-logs": logsHeader(result.logs) }, body);
  } else {
    sendFailure(res, result.error, result.logs, result.timedOut);
  }
}

/** CONTRACT.md `/http` errors: InputError 400, FunctionError 500, SystemError 504 for a deadline, else 500. */
function sendFailure(
  res: ServerResponse,
  error: CallError,
  logs: CallLogs = { stdout: [], stderr: [] },
  timedOut = false,
) {
  const status = error.type === "InputError" ? 400 : timedOut ? 504 : 500;
  const headers = {
    "content-type": "application/json",
    "dispatch-logs": logsHeader(logs),
    "dispatch-error": errorHeader(error),
  };
  // The caller gets the type and message; the stack is the Run's (Dispatch-Error), not the caller's.
  send(res, status, headers, JSON.stringify({ error: { type: error.type, message: error.message } }));
}

function sendMethodNotAllowed(res: ServerResponse, allow: string): void {
  res.setHeader("allow", allow);
  sendJson(res, 405, { error: failure("InputError", `use ${allow}`) });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, { "content-type": "application/json" }, JSON.stringify(value));
}

function send(
  res: ServerResponse,
  status: number,
  headers: RawReply["headers"],
  body: Buffer | string,
): void {
  res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The `Dispatch-Logs` header: base64 JSON, keeping each stream's last lines when it would be too long. */
export function logsHeader(logs: CallLogs): string {
  const full = base64Json(logs);
  if (full.length <= LOGS_HEADER_MAX) return full;
  // base64 is 4/3 of the JSON; half of what is left for each stream.
  const budget = Math.floor((LOGS_HEADER_MAX * 3) / 4 / 2) - 100;
  return base64Json({ stdout: lastLines(logs.stdout, budget), stderr: lastLines(logs.stderr, budget) });
}

/** The `Dispatch-Error` header: base64 JSON, with the stack cut short when it would be too long. */
export function errorHeader(error: CallError): string {
  let fitted = { ...error, message: error.message.slice(0, 1024) };
  while (base64Json(fitted).length > ERROR_HEADER_MAX && fitted.stack.length > 0) {
    fitted = { ...fitted, stack: fitted.stack.slice(0, -1) };
  }
  return base64Json(fitted);
}

function lastLines(lines: string[], budget: number): string[] {
  const kept: string[] = [];
  let used = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const cost = Buffer.byteLength(JSON.stringify(lines[i])) + 1;
    if (used + cost > budget) break;
    kept.push(lines[i] as string);
    used += cost;
  }
  const dropped = lines.length - kept.length;
  kept.reverse();
  return dropped === 0
    ? kept
    : [`[${dropped} earlier lines dropped to fit the Dispatch-Logs header]`, ...kept];
}

function base64Json(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64");
}

function failure(type: CallError["type"], message: string): CallError {
  return { type, message, stack: [] };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * What the platform sends with an /http or /event call besides the request
 * itself: `Dispatch-Secrets` (base64 JSON object, the merged secrets) and
 * `Dispatch-Run-Id`. Neither reaches the handler's `context.http.headers`.
 */
function callHeaders(req: IncomingMessage): { secrets: Record<string, string>; runId: string | null } {
  const raw = req.headers["dispatch-secrets"];
  let secrets: Record<string, string> = {};
  if (typeof raw === "string" && raw !== "") {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(raw, "base64").toString("utf8"));
      if (isObject(parsed)) secrets = parsed as Record<string, string>;
    } catch {
      secrets = {};
    }
  }
  const runId = req.headers["dispatch-run-id"];
  return { secrets, runId: typeof runId === "string" && runId !== "" ? runId : null };
}

function withoutCallHeaders(headers: IncomingMessage["headers"]): IncomingMessage["headers"] {
  const {
    "dispatch-secrets": _secrets,
    "dispatch-run-id": _runId,
    [WORKER_TOKEN_HEADER]: _token,
    ...rest
  } = headers;
  return rest;
}
