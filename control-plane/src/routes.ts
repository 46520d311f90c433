import type { ConnectRouter } from "@connectrpc/connect";
import {
  apiFiles,
  type Endpoint,
  EndpointService,
  type Function as FunctionResource,
  FunctionService,
  isIngestSecretName,
  LogService,
  type Organization,
  OrganizationService,
  RunService,
  type Secret,
  SecretService,
  SourceService,
  type Subscription,
  SubscriptionService,
  SystemService,
  TokenService,
} from "@dispatch/proto";
import { v1 } from "@dispatch/proto/reflection";
import type { TokenRegistry } from "./auth/token-registry.js";
import type { Functions } from "./functions/functions.js";
import { endpointKind } from "./kinds/endpoint.js";
import { functionKind } from "./kinds/function.js";
import type { Kind, Resource } from "./kinds/kind.js";
import { organizationKind } from "./kinds/organization.js";
import { presentSecret } from "./kinds/secret.js";
import { subscriptionKind } from "./kinds/subscription.js";
import type { OrgRules } from "./org-rules.js";
import type { EndpointChecks } from "./services/endpoint-checks.js";
import { createLogService, createRunService, createSourceService } from "./services/function-services.js";
import { createReflectionService, reflectionServices } from "./services/reflection-service.js";
import { createResourceService, type PageSize } from "./services/resource-service.js";
import { checkSubscription } from "./services/subscription-checks.js";
import { type Component, createSystemService } from "./services/system-service.js";
import { createTokenService } from "./services/token-service.js";
import type { ResourceStore } from "./store/resource-store.js";
import type { Violations } from "./validation/violations.js";

/** The services every installation serves (for reflection). */
const apiServices = [
  FunctionService,
  RunService,
  SourceService,
  LogService,
  EndpointService,
  SubscriptionService,
  SecretService,
  OrganizationService,
  TokenService,
  SystemService,
];

/** Every service served, by full name: the API and gRPC reflection (v1 and v1alpha). */
export const servedServices: readonly string[] = [
  ...apiServices.map((s) => s.typeName),
  v1.ServerReflection.typeName,
  "grpc.reflection.v1alpha.ServerReflection",
];

/** The stores of the resource kinds. */
export interface KindStores {
  functions: ResourceStore<FunctionResource>;
  endpoints: ResourceStore<Endpoint>;
  subscriptions: ResourceStore<Subscription>;
  secrets: ResourceStore<Secret>;
  organizations: ResourceStore<Organization>;
}

/** What {@link createRoutes} serves from. */
export interface RoutesOptions {
  stores: KindStores;
  /** The secret kind, which seals with the installation's key. */
  secretKind: Kind<Secret>;
  rules: OrgRules;
  tokens: TokenRegistry;
  functions: Functions;
  pageSize: PageSize;
  /** Endpoint quota and route conflicts, over the index of every endpoint's routes. */
  endpointChecks: EndpointChecks;
  /** Most subscriptions one org may have. */
  maxSubscriptionsPerOrg: number;
  /** Reported by SystemService.GetVersion. */
  version: string;
  /** The installation's components, for SystemService.GetStatus. */
  components: () => readonly Component[];
}

/**
 * The dispatch.v1 API on a Connect router: the generic resource service for
 * each kind (with the kind's hooks), tokens, runs, sources, logs, system
 * status, and gRPC reflection.
 */
export function createRoutes(options: RoutesOptions): (router: ConnectRouter) => void {
  const { stores, rules, tokens, functions, pageSize } = options;
  return (router) => {
    const service = <T extends Resource>(
      desc: (typeof apiServices)[number],
      kind: Kind<T>,
      store: ResourceStore<T>,
      extra: object = {},
    ) =>
      router.service(
        desc,
        createResourceService(desc, {
          kind,
          store,
          checkOrg: rules.checkOrg,
          pageSize,
          ...extra,
        }) as never,
      );
    service(FunctionService, functionKind, stores.functions, {
      validateAsync: (fn: FunctionResource, v: Violations) => functions.validate(fn, v),
      afterDelete: (fn: FunctionResource) => functions.afterDelete(fn),
    });
    service(EndpointService, endpointKind, stores.endpoints, {
      validateAsync: (endpoint: Endpoint, v: Violations, at: { org: string; name: string }) =>
        options.endpointChecks.check(endpoint, at, v),
    });
    service(SubscriptionService, subscriptionKind, stores.subscriptions, {
      validateAsync: (sub: Subscription, v: Violations, at: { org: string; name: string }) =>
        checkSubscription(stores, sub, at, v, options.maxSubscriptionsPerOrg),
    });
    service(SecretService, options.secretKind, stores.secrets, {
      present: (secret: never, request: { reveal?: boolean }) =>
        presentSecret(secret, request.reveal === true),
      // The ingress reads a token-auth endpoint's tokens, the event broker its ingest tokens; no other secret.
      componentMayReveal: async (at: { org: string; name: string }) =>
        isIngestSecretName(at.name) || (await options.endpointChecks.isTokenSecret(at)),
    });
    service(OrganizationService, organizationKind, stores.organizations, {
      checkDelete: rules.checkOrgDelete,
      // Its tokens go with it (they would stop working anyway: each is bound to the org's uid).
      afterDelete: async (org: Resource) => {
        await tokens.revokeOrg(org.meta?.name ?? "");
      },
    });
    router.service(TokenService, createTokenService(tokens, rules.orgUid));
    router.service(RunService, createRunService(functions.invoker, functions.runs, pageSize));
    router.service(SourceService, createSourceService(functions.sources, functions.maxBundleBytes));
    router.service(LogService, createLogService(functions.logs, functions.invoker));
    router.service(SystemService, createSystemService(options.version, options.components));
    const reflection = createReflectionService([...apiFiles], servedServices);
    router.service(reflectionServices.v1, reflection);
    router.service(reflectionServices.v1alpha, reflection as never);
  };
}
