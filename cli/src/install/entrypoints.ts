import type { V1EnvVar } from "@kubernetes/client-node";
import { COMPONENT_TOKENS_SECRET, FUNCTION_SERVICE_ACCOUNT, NATS_SECRET } from "./labels.js";
import type { RenderContext } from "./render-context.js";

/**
 * How each program is started in its container: ports, arguments and
 * environment, in one place, because they must match the programs' entry
 * points.
 *
 * - The control plane's are those of `dispatch-control-plane`
 *   (`control-plane/src/main.ts`; `--help` lists them). The variables marked
 *   "for the Kubernetes driver" are what that driver (being built, issue 11)
 *   is expected to read; until it lands the control plane refuses
 *   `DISPATCH_DRIVER=kubernetes` with a message saying so.
 * - The xds-server's and the event broker's entry points are being built
 *   in parallel: their flags here are the plan (listen address, health
 *   port, the control plane's URL, a component token in a file) and must be
 *   fixed here, and only here, to match what lands.
 */
export const ports = {
  /** The control plane's API (Connect, gRPC, /healthz, /readyz, GET /bundles/<digest>). */
  api: 8080,
  /** The control plane's activator (HTTP calls to functions with no ready instance). */
  activator: 8081,
  /** The xds-server's ADS (gRPC). */
  ads: 18000,
  /** The xds-server's /healthz and /readyz. */
  xdsHealth: 8081,
  /** The event broker's CloudEvents ingress and /healthz, /readyz. */
  broker: 8080,
  /** Envoy's HTTP listener (the xds-server's default listener port). */
  envoyHttp: 8080,
  /** Envoy's static health listener: /healthz, and /readyz answered from the admin's /ready. */
  envoyHealth: 9902,
  /** Envoy's admin interface, on loopback only. */
  envoyAdmin: 9901,
  natsClient: 4222,
  natsCluster: 6222,
  natsMonitor: 8222,
} as const;

/** Where secrets are mounted in the platform's containers. */
export const secretMounts = {
  controlPlane: "/var/run/secrets/dispatch",
  componentToken: "/var/run/secrets/dispatch",
} as const;

/** Writable directories (emptyDir) of containers whose root filesystem is read-only. */
export const scratchMounts = {
  tmp: "/tmp",
  controlPlaneWork: "/var/lib/dispatch",
  natsData: "/data",
} as const;

/** The NATS user and password as variables, for the `$(VAR)` references in a URL below them. */
function natsCredentialEnv(): V1EnvVar[] {
  return [
    { name: "NATS_USER", valueFrom: { secretKeyRef: { name: NATS_SECRET, key: "user" } } },
    { name: "NATS_PASSWORD", valueFrom: { secretKeyRef: { name: NATS_SECRET, key: "password" } } },
  ];
}

/** The NATS URL with credentials (Kubernetes expands `$(NATS_USER)` from the variables before it). */
function natsUrl(ctx: RenderContext): string {
  return `nats://$(NATS_USER):$(NATS_PASSWORD)@${ctx.componentHost("nats")}:${ports.natsClient}`;
}

const podField = (name: string, fieldPath: string): V1EnvVar => ({
  name,
  valueFrom: { fieldRef: { fieldPath } },
});

/** The control plane's URL inside the cluster. */
export function controlPlaneUrl(ctx: RenderContext): string {
  return `http://${ctx.componentHost("control-plane")}:${ports.api}`;
}

/** `dispatch-control-plane`'s environment (its image's entry point takes no arguments here). */
export function controlPlaneEnv(ctx: RenderContext): V1EnvVar[] {
  const { config } = ctx;
  return [
    // For the Kubernetes driver: its namespace and, for the leader Lease, who it is.
    podField("POD_NAME", "metadata.name"),
    podField("POD_NAMESPACE", "metadata.namespace"),
    ...natsCredentialEnv(),
    { name: "DISPATCH_LISTEN", value: `0.0.0.0:${ports.api}` },
    { name: "DISPATCH_NATS_URL", value: natsUrl(ctx) },
    // R3 KV buckets on a cluster (also of 5: R3 is enough and cheaper), R1 on one server.
    { name: "DISPATCH_NATS_REPLICAS", value: String(Math.min(config.nats.replicas, 3)) },
    { name: "DISPATCH_SECRET_KEY_FILE", value: `${secretMounts.controlPlane}/secret-key` },
    { name: "DISPATCH_ADMIN_TOKEN_FILE", value: `${secretMounts.controlPlane}/admin-token` },
    { name: "DISPATCH_DRIVER", value: "kubernetes" },
    { name: "DISPATCH_WORK_DIR", value: `${scratchMounts.controlPlaneWork}/work` },
    { name: "DISPATCH_ACTIVATOR_PORT", value: String(ports.activator) },
    { name: "DISPATCH_SHUTDOWN_GRACE", value: "20" },
    // For the Kubernetes driver: what function pods run, and where they fetch their bundle.
    { name: "DISPATCH_RUNTIME_IMAGE_NODEJS", value: ctx.images.runtimeNodejs },
    { name: "DISPATCH_RUNTIME_IMAGE_PYTHON3", value: ctx.images.runtimePython3 },
    { name: "DISPATCH_IMAGE_PULL_POLICY", value: config.images.pullPolicy },
    { name: "DISPATCH_FUNCTION_SERVICE_ACCOUNT", value: FUNCTION_SERVICE_ACCOUNT },
    { name: "DISPATCH_CONTROL_PLANE_URL", value: controlPlaneUrl(ctx) },
  ];
}

/** The control plane Secret's keys mounted as files. */
export const controlPlaneSecretFiles = ["secret-key", "admin-token"] as const;

/** A component token's file in the xds-server's and the broker's containers. */
export const componentTokenFile = `${secretMounts.componentToken}/token`;

/**
 * The xds-server's arguments. Its entry point (`dispatch-xds-server`) is
 * being built: these flags are the plan, fix them here when it lands.
 */
export function xdsServerArgs(ctx: RenderContext): string[] {
  return [
    `--listen=0.0.0.0:${ports.ads}`,
    `--health-listen=0.0.0.0:${ports.xdsHealth}`,
    `--control-plane=${controlPlaneUrl(ctx)}`,
    `--token-file=${componentTokenFile}`,
    // EDS wants addresses: the xds-server resolves this name to the control plane pods' IPs.
    `--activator=${ctx.componentHost("control-plane")}:${ports.activator}`,
    `--listener-port=${ports.envoyHttp}`,
    ...ctx.config.hosts.map((host) => `--host=${host}`),
  ];
}

/**
 * The event broker's arguments and environment. Its entry point
 * (`dispatch-event-broker`) is being built: these are the plan, fix them
 * here when it lands.
 */
export function eventBrokerArgs(ctx: RenderContext): string[] {
  return [
    `--listen=0.0.0.0:${ports.broker}`,
    `--control-plane=${controlPlaneUrl(ctx)}`,
    `--token-file=${componentTokenFile}`,
  ];
}

/** The event broker reads and writes its event streams in NATS directly. */
export function eventBrokerEnv(ctx: RenderContext): V1EnvVar[] {
  return [
    ...natsCredentialEnv(),
    { name: "DISPATCH_NATS_URL", value: natsUrl(ctx) },
    { name: "DISPATCH_NATS_REPLICAS", value: String(Math.min(ctx.config.nats.replicas, 3)) },
  ];
}

/** The component token a component's pod mounts: its own key of {@link COMPONENT_TOKENS_SECRET}. */
export function componentTokenKey(component: "xds-server" | "event-broker"): string {
  return component;
}

/**
 * Envoy's command line: the bootstrap, the pod's name as its xDS node id, and
 * no hot restart (a pod is replaced, never restarted in place; hot restart
 * would want shared memory the container does not need to offer).
 */
export function envoyArgs(bootstrapPath: string): { command: string[]; args: string[] } {
  return {
    command: ["envoy"],
    args: [
      "--config-path",
      bootstrapPath,
      "--service-node",
      "$(POD_NAME)",
      "--disable-hot-restart",
      "--log-level",
      "info",
    ],
  };
}

/** Envoy's environment: its pod name for `--service-node`. */
export function envoyEnv(): V1EnvVar[] {
  return [podField("POD_NAME", "metadata.name")];
}

/** NATS' environment: its server name (the pod's) and the credentials its config file reads. */
export function natsEnv(): V1EnvVar[] {
  return [podField("POD_NAME", "metadata.name"), ...natsCredentialEnv()];
}
