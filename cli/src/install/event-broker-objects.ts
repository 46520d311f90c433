import { eventBrokerArgs, eventBrokerEnv, ports } from "./entrypoints.js";
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
import { componentTokenVolume } from "./xds-server-objects.js";

/** The event broker: CloudEvents in over HTTP, stored in JetStream, delivered to functions. */
export function eventBrokerObjects(ctx: RenderContext): KubeObject[] {
  const { config } = ctx;
  const token = componentTokenVolume("event-broker");
  const tmp = tmpVolume();
  const spec = podSpec(ctx, "event-broker", {
    uid: DISPATCH_UID,
    terminationGracePeriodSeconds: 30,
    containers: [
      container(
        ctx,
        {
          name: "event-broker",
          image: ctx.images.eventBroker,
          args: eventBrokerArgs(ctx),
          env: eventBrokerEnv(ctx),
          ports: [{ name: "http", containerPort: ports.broker, protocol: "TCP" }],
          startupProbe: httpProbe("/healthz", "http", "startup"),
          livenessProbe: httpProbe("/healthz", "http", "liveness"),
          readinessProbe: httpProbe("/readyz", "http", "readiness"),
          volumeMounts: [token.mount, tmp.mount],
        },
        config.eventBroker.resources,
      ),
    ],
    volumes: [token.volume, tmp.volume],
  });
  return [
    deployment(ctx, "event-broker", config.eventBroker.replicas, spec),
    service(ctx, "event-broker", {
      type: config.eventBroker.serviceType,
      ports: [{ name: "http", port: ports.broker, targetPort: "http", protocol: "TCP", appProtocol: "http" }],
    }),
    podDisruptionBudget(ctx, "event-broker"),
  ];
}
