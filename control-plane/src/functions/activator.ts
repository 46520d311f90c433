import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { isName, upstreamHeaders } from "@dispatch/proto";
import type { Principal } from "../auth/principal.js";
import type { Invoker } from "./invoker.js";

/** A running activator. */
export interface Activator {
  url: string;
  close(): Promise<void>;
}

/**
 * The activator: the HTTP door to functions. A request to
 * `/<org>/<function>/<path>`, or one a proxy routed here naming the function
 * in the `dispatch-org` and `dispatch-function` headers, is parsed, its
 * caller authenticated, and handed
 * to the {@link Invoker}, which holds it while the function has no ready
 * instance (waking it), passes it through to a worker's `/http/<path>`
 * (runtimes/CONTRACT.md) with both bodies streamed, and records a Run
 * (trigger HTTP). The data plane (gateway or Envoy) sends traffic here when a
 * function runs no instance. Callers authenticate with a Dispatch token in
 * the `Dispatch-Token` header (admin, a member of the function's org, or a
 * component: the gateway's token, which the xds-server puts on its routes).
 */
export async function startActivator(
  invoker: Invoker,
  authenticate: (token: string) => Principal | undefined,
  host: string,
  port: number,
  unavailable: () => Error | undefined = () => undefined,
): Promise<Activator> {
  const server: Server = createServer((req, res) => {
    // Without NATS a call could not be recorded: refused at once, saying why.
    const down = unavailable();
    if (down) return sendError(res, 503, down.message);
    void forward(invoker, authenticate, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 502, (err as Error).message);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** Parse → authenticate → invoker. */
async function forward(
  invoker: Invoker,
  authenticate: (token: string) => Principal | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const target = callTarget(req);
  if (!target) {
    return sendError(
      res,
      404,
      `use /<org>/<function>/<path>, or name the function in the "${upstreamHeaders.org}" and "${upstreamHeaders.function}" headers`,
    );
  }
  const { org, name, target: path } = target;
  // Only the platform (the gateway, tools with a token) may call functions
  // here: the call runs with the function's secrets. The token travels in its
  // own header so the caller's Authorization header reaches the function.
  const token = req.headers[upstreamHeaders.activatorToken];
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
  const unsupported = unsupportedBody(req);
  if (unsupported !== undefined) return sendError(res, 415, unsupported);
  // The client may leave at any point, even before anything is awaited.
  const gone = new AbortController();
  res.once("close", () => {
    if (!res.writableEnded) gone.abort();
  });
  try {
    await invoker.run({
      wire: "http",
      org,
      function: name,
      secrets: [],
      exchange: {
        method: req.method ?? "GET",
        target: path,
        headers: withoutPlatformHeaders(req.headers),
        body: req,
        response: res,
        signal: gone.signal,
      },
    });
  } catch (err) {
    // Before any run: the function does not exist, or cannot serve.
    if (!(err instanceof ConnectError)) throw err;
    sendError(res, err.code === Code.NotFound ? 404 : 503, err.rawMessage);
  }
}

/** A JSON error answer: the caller's mistake (4xx) is an InputError, the platform's (5xx) a SystemError. */
function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return;
  const type = status >= 500 ? "SystemError" : "InputError";
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { type, message } }));
}

/**
 * Which function a request is for and the path it sees: the routed form
 * (function headers, any path), else `/<org>/<function>/<path>`.
 */
function callTarget(req: IncomingMessage): { org: string; name: string; target: string } | undefined {
  const url = req.url ?? "";
  const org = req.headers[upstreamHeaders.org];
  const name = req.headers[upstreamHeaders.function];
  if (org !== undefined || name !== undefined) {
    if (typeof org !== "string" || typeof name !== "string") return undefined;
    if (!isName(org) || !isName(name) || !url.startsWith("/")) return undefined;
    return { org, name, target: url };
  }
  const match = /^\/([a-z0-9-]+)\/([a-z0-9-]+)(\/[^?]*)?(\?.*)?$/.exec(url);
  if (!match) return undefined;
  const [, matchedOrg = "", matchedName = "", path = "/", query = ""] = match;
  return { org: matchedOrg, name: matchedName, target: `${path}${query}` };
}

/**
 * Why a request body cannot become a handler's payload, if it cannot: the
 * worker parses JSON (`application/json`, `*+json`), forms
 * (`application/x-www-form-urlencoded`), text (`text/*`) and raw bytes
 * (`application/octet-stream`, or no content type); anything else is refused
 * (415) before a function runs, as Dispatch v1's gateway did.
 */
function unsupportedBody(req: IncomingMessage): string | undefined {
  const hasBody =
    req.headers["transfer-encoding"] !== undefined ||
    (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");
  const type = req.headers["content-type"];
  if (!hasBody || type === undefined) return undefined;
  const essence = (type.split(";")[0] ?? "").trim().toLowerCase();
  if (
    essence === "" ||
    essence === "application/json" ||
    essence.endsWith("+json") ||
    essence === "application/x-www-form-urlencoded" ||
    essence === "application/octet-stream" ||
    essence.startsWith("text/")
  ) {
    return undefined;
  }
  return `request body type is not supported: ${essence.slice(0, 100)}; send application/json, application/x-www-form-urlencoded, text/*, or application/octet-stream`;
}

/** What the function sees: neither the caller's Dispatch token nor the routing headers. */
function withoutPlatformHeaders(headers: IncomingMessage["headers"]): IncomingMessage["headers"] {
  const {
    [upstreamHeaders.activatorToken]: _token,
    [upstreamHeaders.org]: _org,
    [upstreamHeaders.function]: _function,
    ...rest
  } = headers;
  return rest;
}
