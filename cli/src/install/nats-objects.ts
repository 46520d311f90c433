import type { V1ConfigMap, V1StatefulSet } from "@kubernetes/client-node";
import { CONFIG_HASH_ANNOTATION, configHash } from "./config-hash.js";
import { natsEnv, ports, scratchMounts } from "./entrypoints.js";
import { components, NATS_HEADLESS_SERVICE, selectorLabels, stableLabels } from "./labels.js";
import type { RenderContext } from "./render-context.js";
import { NATS_UID } from "./security.js";
import {
  componentMeta,
  container,
  httpProbe,
  type KubeObject,
  podDisruptionBudget,
  podSpec,
  service,
  type Typed,
} from "./workload.js";

const name = components.nats.name;
const CONFIG_DIR = "/etc/nats";
const CONFIG_FILE = "nats.conf";

/**
 * nats-server's configuration. Variables (`$POD_NAME`, `$NATS_USER`, ...)
 * are read from the container's environment by nats-server itself, so no
 * credential is written into the ConfigMap. With more than one server, each
 * routes to every other by its stable name under the headless Service; the
 * route port is reached only from NATS pods (NetworkPolicy), which is what
 * guards it.
 */
export function natsConfig(ctx: RenderContext): string {
  const { replicas } = ctx.config.nats;
  const lines = [
    "# nats-server configuration, rendered by dispatch install.",
    "server_name: $POD_NAME",
    `listen: 0.0.0.0:${ports.natsClient}`,
    `http: 0.0.0.0:${ports.natsMonitor}`,
    "",
    "jetstream {",
    `  store_dir: ${scratchMounts.natsData}`,
    "}",
    "",
    "authorization {",
    "  user: $NATS_USER",
    "  password: $NATS_PASSWORD",
    "}",
  ];
  if (replicas > 1) {
    const host = (i: number) => `${name}-${i}.${ctx.serviceHost(NATS_HEADLESS_SERVICE)}`;
    lines.push(
      "",
      "cluster {",
      `  name: ${name}`,
      `  listen: 0.0.0.0:${ports.natsCluster}`,
      "  routes: [",
      ...Array.from({ length: replicas }, (_, i) => `    nats://${host(i)}:${ports.natsCluster}`),
      "  ]",
      "}",
    );
  }
  return `${lines.join("\n")}\n`;
}

/** NATS with JetStream: a StatefulSet on persistent volumes, its Services and a disruption budget that keeps the quorum. */
export function natsObjects(ctx: RenderContext): KubeObject[] {
  const { config } = ctx;
  const data = { [CONFIG_FILE]: natsConfig(ctx) };
  const configMap: Typed<V1ConfigMap> = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: componentMeta(ctx, "nats"),
    data,
  };
  const spec = podSpec(ctx, "nats", {
    uid: NATS_UID,
    // Time to hand JetStream leadership over before the process is killed.
    terminationGracePeriodSeconds: 60,
    containers: [
      container(
        ctx,
        {
          name: "nats",
          image: config.images.nats,
          command: ["nats-server", "--config", `${CONFIG_DIR}/${CONFIG_FILE}`],
          env: natsEnv(),
          ports: [
            { name: "client", containerPort: ports.natsClient, protocol: "TCP" },
            { name: "cluster", containerPort: ports.natsCluster, protocol: "TCP" },
            { name: "monitor", containerPort: ports.natsMonitor, protocol: "TCP" },
          ],
          // /healthz is 200 once JetStream is current with the cluster; a restarted
          // server may take a while to catch up, which only the startup probe waits for.
          startupProbe: httpProbe("/healthz", "monitor", "startup"),
          livenessProbe: httpProbe("/healthz?js-enabled-only=true", "monitor", "liveness"),
          readinessProbe: httpProbe("/healthz?js-server-only=true", "monitor", "readiness"),
          volumeMounts: [
            { name: "config", mountPath: CONFIG_DIR, readOnly: true },
            { name: "data", mountPath: scratchMounts.natsData },
          ],
        },
        config.nats.resources,
      ),
    ],
    volumes: [{ name: "config", configMap: { name: configMap.metadata.name } }],
  });
  const meta = componentMeta(ctx, "nats");
  const statefulSet: Typed<V1StatefulSet> = {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: meta,
    spec: {
      replicas: config.nats.replicas,
      serviceName: NATS_HEADLESS_SERVICE,
      // Every server starts at once: a cluster forms only when its routes answer.
      podManagementPolicy: "Parallel",
      updateStrategy: { type: "RollingUpdate" },
      // The data outlives the StatefulSet; dispatch uninstall --delete-data removes it.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
      selector: { matchLabels: selectorLabels("nats") },
      template: {
        metadata: {
          labels: { ...(meta.labels ?? {}) },
          annotations: { [CONFIG_HASH_ANNOTATION]: configHash(data) },
        },
        spec,
      },
      volumeClaimTemplates: [
        {
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          // No version label: a StatefulSet's claim templates cannot change after creation.
          metadata: { name: "data", labels: stableLabels("nats") },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(config.nats.storage.className === ""
              ? {}
              : { storageClassName: config.nats.storage.className }),
            resources: { requests: { storage: config.nats.storage.size } },
          },
        },
      ],
    },
  };
  return [
    configMap,
    statefulSet,
    service(ctx, "nats", {
      ports: [{ name: "client", port: ports.natsClient, targetPort: "client", protocol: "TCP" }],
    }),
    service(ctx, "nats", {
      name: NATS_HEADLESS_SERVICE,
      headless: true,
      publishNotReadyAddresses: true,
      ports: [
        { name: "client", port: ports.natsClient, targetPort: "client", protocol: "TCP" },
        { name: "cluster", port: ports.natsCluster, targetPort: "cluster", protocol: "TCP" },
        { name: "monitor", port: ports.natsMonitor, targetPort: "monitor", protocol: "TCP" },
      ],
    }),
    podDisruptionBudget(ctx, "nats"),
  ];
}
