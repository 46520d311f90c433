import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { withDeadlines } from "./request-timeout.js";
import { clientPackageVersion } from "./version.js";

/** Where to connect, how to authenticate, and how long a call may take. */
export interface TransportOptions {
  /** Base URL of the control plane, e.g. `http://127.0.0.1:8080`. */
  server: string;
  /** Bearer token; when empty no Authorization header is sent and the server says what to do. */
  token: string;
  /** Sent as `User-Agent` on every call; default `dispatch-client/<version>`. */
  userAgent?: string;
  /**
   * How long a call may take before it fails with a `RequestTimeoutError`;
   * a call's own `timeoutMs` overrides it. Default 0: no deadline.
   */
  requestTimeoutMs?: number;
  /**
   * `"2"` (default): one HTTP/2 connection (h2c on `http://`) carries every
   * call, and pings find a connection that died silently, so a long watch
   * never hangs on it. `"1.1"`: a connection per call in flight, through any
   * HTTP proxy (the CLI's choice: its calls are few and short).
   */
  httpVersion?: "1.1" | "2";
  /** With HTTP/2: ping after this long without a frame from the server; default 30 s. */
  pingIntervalMs?: number;
  /** With HTTP/2: a ping unanswered for this long closes the connection (and its calls); default 15 s. */
  pingTimeoutMs?: number;
  /**
   * Whether the server may gzip its answers (default true). A component that
   * calls over loopback or inside a cluster at a high rate (the event broker
   * delivering) turns it off: compressing every run costs more CPU than the
   * bytes it saves.
   */
  compression?: boolean;
}

/**
 * The Connect transport every Dispatch client uses: binary Protobuf (errors
 * still arrive as JSON in the Connect protocol, so their messages read as the
 * server wrote them), `Authorization: Bearer <token>` and the user agent on
 * every call, request deadlines, and an Unimplemented answer that names the
 * call the server lacks.
 *
 * @example
 * const transport = createDispatchTransport({ server: "http://127.0.0.1:8080", token, userAgent: "xds-server/0.1.0" });
 * const clients = createDispatchClients(transport);
 */
export function createDispatchTransport(options: TransportOptions): Transport {
  const userAgent = options.userAgent ?? `dispatch-client/${clientPackageVersion()}`;
  const authorize: Interceptor = (next) => async (request) => {
    if (options.token) request.header.set("Authorization", `Bearer ${options.token}`);
    request.header.set("User-Agent", userAgent);
    try {
      return await next(request);
    } catch (err) {
      // A server without this service answers "HTTP 404": say which call it lacks.
      if (err instanceof ConnectError && err.code === Code.Unimplemented) {
        const call = `${request.method.parent.typeName}.${request.method.name}`;
        throw new ConnectError(
          `${options.server} does not serve ${call}`,
          Code.Unimplemented,
          undefined,
          undefined,
          err,
        );
      }
      throw err;
    }
  };
  const http2 = (options.httpVersion ?? "2") === "2";
  const transport = createConnectTransport({
    baseUrl: options.server,
    useBinaryFormat: true,
    interceptors: [authorize],
    ...(options.compression === false ? { acceptCompression: [] } : {}),
    ...(http2
      ? {
          httpVersion: "2" as const,
          pingIntervalMs: options.pingIntervalMs ?? 30_000,
          pingTimeoutMs: options.pingTimeoutMs ?? 15_000,
        }
      : { httpVersion: "1.1" as const }),
  });
  return withDeadlines(transport, options.requestTimeoutMs ?? 0);
}
