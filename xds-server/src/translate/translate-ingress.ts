import type { DescMessage, Message } from "@bufbuild/protobuf";
import {
  CLUSTER_TYPE_URL,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ListenerSchema,
  ROUTE_TYPE_URL,
  RouteConfigurationSchema,
} from "@dispatch/proto/envoy";
import { ConfigurationError } from "@dispatch/server-kit";
import type { Violation } from "../check/pgv.js";
import type { IngressIR } from "../ir/ir.js";
import { translateApiToIr } from "./api-to-ir.js";
import { type EnvoyResources, type ResourceOwner, translateIrToEnvoy } from "./ir-to-envoy.js";
import { TranslationMemo } from "./memo.js";
import type { ResolvedTranslateOptions } from "./options.js";
import type { EndpointProblem, IngressSnapshot } from "./snapshot.js";

/** One Envoy resource, ready for the cache. */
export interface XdsResource {
  typeUrl: string;
  name: string;
  schema: DescMessage;
  message: Message;
}

/** Checks one resource; `checkMessage` of `check/pgv.ts`, or a memoizing wrapper of it. */
export type ResourceCheck = (resource: XdsResource) => Violation[];

/** What the ingress state becomes: resources that pass Envoy's rules, and every endpoint problem. */
export interface IngressTranslation {
  ir: IngressIR;
  envoy: EnvoyResources;
  /** Every resource in push order (clusters, load assignments, listeners, route configurations). */
  resources: XdsResource[];
  /** Sorted by endpoint; `RejectedByValidation` for endpoints whose resources broke a rule. */
  problems: EndpointProblem[];
}

/** How many endpoints one violation report names at most (the rest are summarized). */
const maxViolationsShown = 3;

/**
 * The pure core of the xds-server: snapshot → IR → Envoy resources, each
 * resource checked against Envoy's `validate.rules` before it may reach a
 * proxy. A violation is traced to the endpoint whose part of the resource
 * broke the rule; that endpoint is left out (its problem says why) and the
 * rest translated again, so one bad endpoint never keeps the others from
 * being served.
 *
 * @throws ConfigurationError when a violation belongs to no endpoint (the
 *   options, or a translator bug): nothing of this translation may be served
 */
export function translateIngress(
  snapshot: IngressSnapshot,
  options: ResolvedTranslateOptions,
  check: ResourceCheck,
  memo: TranslationMemo = new TranslationMemo(),
): IngressTranslation {
  memo.begin();
  const exclude = new Set<string>();
  const rejected: EndpointProblem[] = [];
  // Each round leaves out at least one endpoint, so this ends.
  for (;;) {
    const { ir, problems } = translateApiToIr(snapshot, options, exclude, memo);
    const envoy = translateIrToEnvoy(ir, memo);
    const resources = resourceList(envoy);
    const culprits = new Map<string, string[]>();
    for (const resource of resources) {
      for (const violation of check(resource)) {
        const owners = ownersOf(envoy.owners, resource, violation.path);
        const where = `${kindOf(resource.typeUrl)} "${resource.name}"${violation.path === "" ? "" : ` at ${violation.path}`}`;
        if (owners.length === 0) {
          throw new ConfigurationError(
            `the xds-server built a configuration Envoy would reject, not caused by any endpoint: ${where}: ${violation.message}`,
          );
        }
        for (const endpoint of owners) {
          const list = culprits.get(endpoint) ?? [];
          list.push(`${where}: ${violation.message}`);
          culprits.set(endpoint, list);
        }
      }
    }
    if (culprits.size === 0) {
      const all = [...problems, ...rejected].sort((a, b) =>
        a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0,
      );
      return { ir, envoy, resources, problems: all };
    }
    for (const [endpoint, messages] of culprits) {
      exclude.add(endpoint);
      const shown = messages.slice(0, maxViolationsShown).join("; ");
      const more =
        messages.length > maxViolationsShown ? ` (and ${messages.length - maxViolationsShown} more)` : "";
      rejected.push({
        endpoint,
        reason: "RejectedByValidation",
        message: `Envoy would reject its configuration: ${shown}${more}`,
        served: false,
      });
    }
  }
}

/** The resources in push order: CDS, EDS, LDS, RDS. */
export function resourceList(envoy: EnvoyResources): XdsResource[] {
  return [
    ...envoy.clusters.map((message) => ({
      typeUrl: CLUSTER_TYPE_URL,
      name: message.name,
      schema: ClusterSchema,
      message,
    })),
    ...envoy.clusterLoadAssignments.map((message) => ({
      typeUrl: ENDPOINT_TYPE_URL,
      name: message.clusterName,
      schema: ClusterLoadAssignmentSchema,
      message,
    })),
    ...envoy.listeners.map((message) => ({
      typeUrl: LISTENER_TYPE_URL,
      name: message.name,
      schema: ListenerSchema,
      message,
    })),
    ...envoy.routeConfigurations.map((message) => ({
      typeUrl: ROUTE_TYPE_URL,
      name: message.name,
      schema: RouteConfigurationSchema,
      message,
    })),
  ];
}

/** The endpoints of the most specific part of `resource` that contains `path`. */
function ownersOf(owners: readonly ResourceOwner[], resource: XdsResource, path: string): string[] {
  let best: ResourceOwner | undefined;
  for (const owner of owners) {
    if (owner.typeUrl !== resource.typeUrl || owner.name !== resource.name) continue;
    const inside =
      owner.path === "" ||
      path === owner.path ||
      (path.startsWith(owner.path) && (path[owner.path.length] === "." || path[owner.path.length] === "["));
    if (inside && (!best || owner.path.length > best.path.length)) best = owner;
  }
  return best?.endpoints ?? [];
}

function kindOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf(".") + 1);
}
