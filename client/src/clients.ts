import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  EndpointService,
  EventService,
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

/**
 * A client of the event broker's `EventService` (Emit, ListEvents,
 * WatchEvents, ListDeadLetters, Redeliver). The broker serves it at its own
 * URL (the `events` URL of `SystemService.GetStatus`), not at the control
 * plane's, so it takes a transport of its own, made with the same token.
 *
 * @example
 * const { urls } = await clients.system.getStatus({});
 * const events = createEventClient(createDispatchTransport({ server: urls.events, token }));
 * await events.emit({ events: [{ id: "1", source: "/shop", type: "com.example.order.created" }] });
 */
export function createEventClient(transport: Transport): Client<typeof EventService> {
  return createClient(EventService, transport);
}
