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
  const transport = createConnectTransport({
    baseUrl: options.server,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors: [authorize],
  });
  return withDeadlines(transport, options.requestTimeoutMs ?? 0);
}

/**
 * Gives every call a deadline (`defaultMs`, unless the call names its own
 * `timeoutMs`; 0 is none) and turns a missed one into a
 * {@link RequestTimeoutError} that says which call and how long. (An
 * interceptor cannot: Connect replaces what it throws with the abort reason.)
 */
function withDeadlines(transport: Transport, defaultMs: number): Transport {
  const effective = (timeoutMs: number | undefined) => (timeoutMs === undefined ? defaultMs : timeoutMs);
  const translate = (err: unknown, call: string, ms: number) =>
    err instanceof ConnectError && err.code === Code.DeadlineExceeded && ms > 0
      ? new RequestTimeoutError(call, ms, err)
      : err;
  const callName = (method: { parent: { typeName: string }; name: string }) =>
    `${method.parent.typeName}.${method.name}`;
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const ms = effective(timeoutMs);
      try {
        return await transport.unary(method, signal, ms, header, input, contextValues);
      } catch (err) {
        throw translate(err, callName(method), ms);
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const ms = effective(timeoutMs);
      const call = callName(method);
      const response = await transport
        .stream(method, signal, ms, header, input, contextValues)
        .catch((err: unknown) => {
          throw translate(err, call, ms);
        });
      // A stream can also run out of time between messages.
      const messages = response.message;
      return {
        ...response,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw translate(err, call, ms);
          }
        })(),
      };
    },
  };
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
