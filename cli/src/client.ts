import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  EndpointService,
  FunctionService,
  LogService,
  OrganizationService,
  RunService,
  SecretService,
  SourceService,
  SubscriptionService,
  SystemService,
  TokenService,
} from "@dispatch/proto";
import { clientVersion } from "./version.js";

/** Where to connect and how to authenticate. */
export interface TransportOptions {
  /** Base URL of the control plane, e.g. `http://127.0.0.1:8080`. */
  server: string;
  /** Bearer token; when empty no Authorization header is sent and the server says what to do. */
  token: string;
  /**
   * How long a call may take before it fails with {@link RequestTimeoutError};
   * a call's own `timeoutMs` overrides it (`0`: no deadline, for watches).
   */
  requestTimeoutMs?: number;
}

/**
 * A call got no (complete) answer within its deadline; `timeoutMs` says how
 * long the CLI waited. (Not a ConnectError subclass: ConnectError's
 * `instanceof` matches every ConnectError for subclasses too.)
 */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";

  constructor(
    readonly call: string,
    readonly timeoutMs: number,
    cause: unknown,
  ) {
    super(`no answer to ${call} within ${timeoutMs / 1000}s`, { cause });
  }
}

/**
 * The Connect transport the CLI uses: HTTP/1.1 (works through any proxy), binary
 * Protobuf (errors still arrive as JSON in the Connect protocol, so their messages
 * print as the server wrote them), and `Authorization: Bearer <token>` on every call.
 */
export function createDispatchTransport(options: TransportOptions): Transport {
  const authorize: Interceptor = (next) => async (request) => {
    if (options.token) request.header.set("Authorization", `Bearer ${options.token}`);
    request.header.set("User-Agent", `dispatch-cli/${clientVersion()}`);
    const call = `${request.method.parent.typeName}.${request.method.name}`;
    // The deadline is the call's Connect-Timeout-Ms; when it fires, the
    // signal's reason says so, whatever error the aborted request threw.
    const timedOut = (err: unknown) => {
      const reason: unknown = request.signal.aborted ? request.signal.reason : undefined;
      if (!(reason instanceof ConnectError && reason.code === Code.DeadlineExceeded)) return undefined;
      const timeoutMs = Number(request.header.get("connect-timeout-ms") ?? 0);
      return new RequestTimeoutError(call, timeoutMs, err);
    };
    try {
      const response = await next(request);
      if (!response.stream) return response;
      // A stream can also time out between messages.
      const messages = response.message;
      return {
        ...response,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw timedOut(err) ?? err;
          }
        })(),
      };
    } catch (err) {
      const timeout = timedOut(err);
      if (timeout) throw timeout;
      // A server without this service answers "HTTP 404": say which call it lacks.
      if (err instanceof ConnectError && err.code === Code.Unimplemented) {
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
  return createConnectTransport({
    baseUrl: options.server,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors: [authorize],
    ...(options.requestTimeoutMs ? { defaultTimeoutMs: options.requestTimeoutMs } : {}),
  });
}

/** A typed Connect client for each Dispatch service. */
export interface DispatchClients {
  functions: Client<typeof FunctionService>;
  endpoints: Client<typeof EndpointService>;
  subscriptions: Client<typeof SubscriptionService>;
  secrets: Client<typeof SecretService>;
  organizations: Client<typeof OrganizationService>;
  tokens: Client<typeof TokenService>;
  runs: Client<typeof RunService>;
  /** Function bundles (upload before create/update). */
  sources: Client<typeof SourceService>;
  logs: Client<typeof LogService>;
  system: Client<typeof SystemService>;
}

/** Creates every service client over one transport. */
export function createDispatchClients(transport: Transport): DispatchClients {
  return {
    functions: createClient(FunctionService, transport),
    endpoints: createClient(EndpointService, transport),
    subscriptions: createClient(SubscriptionService, transport),
    secrets: createClient(SecretService, transport),
    organizations: createClient(OrganizationService, transport),
    tokens: createClient(TokenService, transport),
    runs: createClient(RunService, transport),
    sources: createClient(SourceService, transport),
    logs: createClient(LogService, transport),
    system: createClient(SystemService, transport),
  };
}
