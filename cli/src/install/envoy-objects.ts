import type { V1ConfigMap } from "@kubernetes/client-node";
import { CONFIG_HASH_ANNOTATION, configHash } from "./config-hash.js";
import { envoyArgs, envoyEnv, ports } from "./entrypoints.js";
import { envoyBootstrapYaml } from "./envoy-bootstrap.js";
import type { RenderContext } from "./render-context.js";
import { ENVOY_UID } from "./security.js";
import {
  componentMeta,
  container,
  deployment,
  httpProbe,
  type KubeObject,
  podDisruptionBudget,
  podSpec,
  service,
  type Typed,
  tmpVolume,
} from "./workload.js";

const BOOTSTRAP_DIR = "/etc/envoy";
const BOOTSTRAP_FILE = "bootstrap.yaml";

/** Envoy, the gateway: its bootstrap, Deployment, Service (the cluster's HTTP entrance) and disruption budget. */
export function envoyObjects(ctx: RenderContext): KubeObject[] {
  const { config } = ctx;
  const data = { [BOOTSTRAP_FILE]: envoyBootstrapYaml(ctx) };
  const configMap: Typed<V1ConfigMap> = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: componentMeta(ctx, "gateway"),
    data,
  };
  const tmp = tmpVolume();
  const { command, args } = envoyArgs(`${BOOTSTRAP_DIR}/${BOOTSTRAP_FILE}`);
  const spec = podSpec(ctx, "gateway", {
    uid: ENVOY_UID,
    terminationGracePeriodSeconds: 30,
    containers: [
      container(
        ctx,
        {
          name: "envoy",
          image: config.images.envoy,
          command,
          args,
          env: envoyEnv(),
          ports: [
            { name: "http", containerPort: ports.envoyHttp, protocol: "TCP" },
            { name: "health", containerPort: ports.envoyHealth, protocol: "TCP" },
          ],
          startupProbe: httpProbe("/healthz", "health", "startup"),
          livenessProbe: httpProbe("/healthz", "health", "liveness"),
          readinessProbe: httpProbe("/readyz", "health", "readiness"),
          volumeMounts: [{ name: "bootstrap", mountPath: BOOTSTRAP_DIR, readOnly: true }, tmp.mount],
        },
        config.envoy.resources,
      ),
    ],
    volumes: [{ name: "bootstrap", configMap: { name: configMap.metadata.name } }, tmp.volume],
  });
  const hosts = config.hosts;
  return [
    configMap,
    deployment(ctx, "gateway", config.envoy.replicas, spec, { [CONFIG_HASH_ANNOTATION]: configHash(data) }),
    service(ctx, "gateway", {
      type: config.envoy.serviceType,
      ports: [
        { name: "http", port: config.envoy.port, targetPort: "http", protocol: "TCP", appProtocol: "http" },
      ],
      // external-dns points these names at the Service's address.
      ...(hosts.length > 0
        ? { annotations: { "external-dns.alpha.kubernetes.io/hostname": hosts.join(",") } }
        : {}),
    }),
    podDisruptionBudget(ctx, "gateway"),
  ];
}
