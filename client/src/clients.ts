import { type Client, createClient, type Transport } from "@connectrpc/connect";
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
