import type {
  V1NetworkPolicyEgressRule,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicySpec,
} from "@kubernetes/client-node";
import { ports } from "./entrypoints.js";
import { type Component, functionPodLabels, installLabels, selectorLabels } from "./labels.js";
import type { RenderContext } from "./render-context.js";
import type { KubeObject } from "./workload.js";

/**
 * An ingress rule as the API spells it: client-node's model calls `from`
 * `_from` (its serializer renames it), and what is rendered here is the
 * wire form.
 */
type IngressRule = Omit<V1NetworkPolicyIngressRule, "_from"> & { from?: V1NetworkPolicyPeer[] };

/** A NetworkPolicy in the API's own spelling (see {@link IngressRule}). */
interface NetworkPolicy extends KubeObject {
  spec: Omit<V1NetworkPolicySpec, "ingress"> & { ingress?: IngressRule[] };
}

/** Peers: the pods of a platform component, in this namespace. */
const pods = (component: Component): V1NetworkPolicyPeer => ({
  podSelector: { matchLabels: selectorLabels(component) },
});

const tcp = (port: number) => ({ protocol: "TCP", port });

/**
 * Addresses no function may reach: the private ranges (the cluster's pods and
 * Services, the nodes), link-local (cloud metadata services) and shared
 * address space (some pod networks). What is left is the internet.
 */
const privateRanges = {
  v4: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10", "127.0.0.0/8"],
  v6: ["fc00::/7", "fe80::/10", "::1/128"],
};

function policy(
  ctx: RenderContext,
  name: string,
  podSelector: Record<string, string>,
  rules: { ingress?: IngressRule[]; egress?: V1NetworkPolicyEgressRule[] },
): NetworkPolicy {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace: ctx.namespace, labels: installLabels(ctx.version) },
    spec: {
      podSelector: { matchLabels: podSelector },
      policyTypes: [...(rules.ingress ? ["Ingress"] : []), ...(rules.egress ? ["Egress"] : [])],
      ...(rules.ingress ? { ingress: rules.ingress } : {}),
      ...(rules.egress ? { egress: rules.egress } : {}),
    },
  };
}

/**
 * Who may talk to whom. A pod a policy selects takes only what the policy
 * allows (traffic from its own node, the kubelet's probes, always passes).
 *
 * - Function pods take calls from Envoy and from the control plane (the
 *   invoker: exec, events, the activator) and nothing else. They reach DNS,
 *   the control plane's API port (to download their bundle) and, if
 *   `functions.internetEgress`, addresses outside the private ranges; never
 *   NATS, the activator or the other components. The API port serves every
 *   API call too, which a policy cannot tell apart from a bundle download:
 *   a function's only credential (its instance's) is accepted by the bundle
 *   route alone.
 * - NATS takes clients only from the control plane and the event broker,
 *   and routes only from NATS.
 * - The control plane's activator and the xds-server's ADS take only Envoy.
 */
export function networkPolicies(ctx: RenderContext): KubeObject[] {
  const dns: V1NetworkPolicyEgressRule = {
    ports: [
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ],
  };
  const internet: V1NetworkPolicyEgressRule[] = ctx.config.functions.internetEgress
    ? [
        {
          to: [
            { ipBlock: { cidr: "0.0.0.0/0", except: privateRanges.v4 } },
            { ipBlock: { cidr: "::/0", except: privateRanges.v6 } },
          ],
        },
      ]
    : [];
  return [
    policy(
      ctx,
      "dispatch-functions",
      { ...functionPodLabels },
      {
        ingress: [{ from: [pods("gateway"), pods("control-plane")] }],
        egress: [dns, { to: [pods("control-plane")], ports: [tcp(ports.api)] }, ...internet],
      },
    ),
    policy(ctx, "dispatch-nats", selectorLabels("nats"), {
      ingress: [
        { from: [pods("control-plane"), pods("event-broker")], ports: [tcp(ports.natsClient)] },
        { from: [pods("nats")], ports: [tcp(ports.natsCluster)] },
      ],
    }),
    policy(ctx, "dispatch-control-plane", selectorLabels("control-plane"), {
      ingress: [{ ports: [tcp(ports.api)] }, { from: [pods("gateway")], ports: [tcp(ports.activator)] }],
    }),
    policy(ctx, "dispatch-xds-server", selectorLabels("xds-server"), {
      ingress: [{ from: [pods("gateway")], ports: [tcp(ports.ads)] }],
    }),
    policy(ctx, "dispatch-event-broker", selectorLabels("event-broker"), {
      ingress: [{ ports: [tcp(ports.broker)] }],
    }),
    policy(ctx, "dispatch-envoy", selectorLabels("gateway"), {
      ingress: [{ ports: [tcp(ports.envoyHttp), tcp(ports.envoyHealth)] }],
    }),
  ];
}
