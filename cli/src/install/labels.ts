/**
 * The names and labels of what `dispatch install` creates, in one place:
 * Kubernetes' recommended labels (`app.kubernetes.io/*`) on every object,
 * the stable subset as selectors, and the label set `dispatch uninstall`
 * deletes by.
 */

/** The field manager of every server-side apply `dispatch install` makes. */
export const FIELD_MANAGER = "dispatch";

/** `app.kubernetes.io/managed-by` of everything install creates: uninstall deletes by it. */
export const MANAGED_BY = "dispatch-install";

/** `app.kubernetes.io/part-of` of every object of an installation, the functions' pods included. */
export const PART_OF = "dispatch";

/** `app.kubernetes.io/instance`: one installation per namespace. */
export const INSTANCE = "dispatch";

/** A platform component: one Deployment or StatefulSet, its Service and its label. */
export type Component = "control-plane" | "xds-server" | "event-broker" | "gateway" | "nats";

/** Per component: its objects' name and its `app.kubernetes.io/name`. */
export const components: Readonly<Record<Component, { name: string; app: string }>> = {
  "control-plane": { name: "dispatch-control-plane", app: "dispatch-control-plane" },
  "xds-server": { name: "dispatch-xds-server", app: "dispatch-xds-server" },
  "event-broker": { name: "dispatch-event-broker", app: "dispatch-event-broker" },
  gateway: { name: "dispatch-envoy", app: "envoy" },
  nats: { name: "dispatch-nats", app: "nats" },
};

/** The headless Service that gives each NATS server a stable DNS name for cluster routes. */
export const NATS_HEADLESS_SERVICE = "dispatch-nats-headless";

/** The Secret install generates for the control plane: the key that seals secrets and an admin token. */
export const CONTROL_PLANE_SECRET = "dispatch-control-plane";

/** The Secret install generates for NATS: the user and password every platform client logs in with. */
export const NATS_SECRET = "dispatch-nats";

/**
 * The Secret that holds the components' API tokens (keys `xds-server` and
 * `event-broker`). Install cannot make it: a token exists only once the
 * control plane issued it (`dispatch create token NAME --role component`), so
 * the user creates it after install (docs/production.md); the pods mount it
 * as optional and see it appear.
 */
export const COMPONENT_TOKENS_SECRET = "dispatch-component-tokens";

/** The ServiceAccount function pods run as: no API token mounted, no permissions. */
export const FUNCTION_SERVICE_ACCOUNT = "dispatch-function";

/**
 * The labels the Kubernetes driver puts on every function pod: the
 * NetworkPolicies select function pods by them, so they come from the driver.
 */
export { functionPodLabels } from "@dispatch/kubernetes-driver";

/** Labels of objects that belong to the installation but to no one component (the namespace, policies). */
export function installLabels(version: string): Record<string, string> {
  return {
    "app.kubernetes.io/instance": INSTANCE,
    "app.kubernetes.io/managed-by": MANAGED_BY,
    "app.kubernetes.io/part-of": PART_OF,
    "app.kubernetes.io/version": version,
  };
}

/** Every recommended label of one component's objects. */
export function componentLabels(component: Component, version: string): Record<string, string> {
  // In key order, as kubectl shows them.
  return {
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/instance": INSTANCE,
    "app.kubernetes.io/managed-by": MANAGED_BY,
    "app.kubernetes.io/name": components[component].app,
    "app.kubernetes.io/part-of": PART_OF,
    "app.kubernetes.io/version": version,
  };
}

/** A component's labels without its version: for fields that can never change (claim templates). */
export function stableLabels(component: Component): Record<string, string> {
  const { "app.kubernetes.io/version": _version, ...labels } = componentLabels(component, "");
  return labels;
}

/** The labels that select a component's pods: only those that never change (selectors are immutable). */
export function selectorLabels(component: Component): Record<string, string> {
  return {
    "app.kubernetes.io/instance": INSTANCE,
    "app.kubernetes.io/name": components[component].app,
  };
}

/** The label selector of everything install made (`dispatch uninstall` deletes what it matches). */
export const installSelector = `app.kubernetes.io/part-of=${PART_OF},app.kubernetes.io/managed-by=${MANAGED_BY}`;

/** The version part of an image reference ("nats:2.10.24-alpine" → "2.10.24-alpine"), as a label value. */
export function imageVersion(image: string): string {
  const withoutDigest = image.split("@")[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.indexOf(":", lastSlash + 1);
  return colon < 0 ? "latest" : withoutDigest.slice(colon + 1);
}
