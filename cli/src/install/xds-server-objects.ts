import type { V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { componentTokenKey, ports, secretMounts, xdsServerArgs } from "./entrypoints.js";
import { COMPONENT_TOKENS_SECRET } from "./labels.js";
import type { RenderContext } from "./render-context.js";
import { DISPATCH_UID } from "./security.js";
import {
  container,
  deployment,
  httpProbe,
  type KubeObject,
  podDisruptionBudget,
  podSpec,
  service,
  tmpVolume,
} from "./workload.js";

/**
 * A component's API token, mounted from {@link COMPONENT_TOKENS_SECRET}. The
 * Secret is optional: it exists only once the user has issued the tokens
 * (docs/production.md), and the kubelet updates the file when it appears.
 */
export function componentTokenVolume(component: "xds-server" | "event-broker"): {
  volume: V1Volume;
  mount: V1VolumeMount;
} {
  return {
    volume: {
      name: "token",
      secret: {
        secretName: COMPONENT_TOKENS_SECRET,
        optional: true,
        defaultMode: 0o440,
        items: [{ key: componentTokenKey(component), path: "token" }],
      },
    },
    mount: { name: "token", mountPath: secretMounts.componentToken, readOnly: true },
  };
}

/** The xds-server: translates Endpoints and Functions into Envoy configuration, served over ADS. */
export function xdsServerObjects(ctx: RenderContext): KubeObject[] {
  const { config } = ctx;
  const token = componentTokenVolume("xds-server");
  const tmp = tmpVolume();
  const spec = podSpec(ctx, "xds-server", {
    uid: DISPATCH_UID,
    terminationGracePeriodSeconds: 30,
    containers: [
      container(
        ctx,
        {
          name: "xds-server",
          image: ctx.images.xdsServer,
          args: xdsServerArgs(ctx),
          ports: [
            { name: "grpc", containerPort: ports.ads, protocol: "TCP" },
            { name: "health", containerPort: ports.xdsHealth, protocol: "TCP" },
          ],
          startupProbe: httpProbe("/healthz", "health", "startup"),
          livenessProbe: httpProbe("/healthz", "health", "liveness"),
          readinessProbe: httpProbe("/readyz", "health", "readiness"),
          volumeMounts: [token.mount, tmp.mount],
        },
        config.xdsServer.resources,
      ),
    ],
    volumes: [token.volume, tmp.volume],
  });
  return [
    deployment(ctx, "xds-server", config.xdsServer.replicas, spec),
    service(ctx, "xds-server", {
      ports: [{ name: "grpc", port: ports.ads, targetPort: "grpc", protocol: "TCP", appProtocol: "grpc" }],
    }),
    podDisruptionBudget(ctx, "xds-server"),
  ];
}
