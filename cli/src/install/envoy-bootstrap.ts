import { stringify } from "yaml";
import { ports } from "./entrypoints.js";
import type { RenderContext } from "./render-context.js";

/** The name of the static cluster that reaches the xds-server. */
export const XDS_CLUSTER = "dispatch-xds";

/** The name of the static cluster that reaches Envoy's own admin interface on loopback. */
const ADMIN_CLUSTER = "envoy-admin";

const HCM_TYPE =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HTTP_OPTIONS_TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** A socket address in Envoy's v3 JSON form. */
function socket(address: string, port: number) {
  return { socket_address: { address, port_value: port } };
}

/** A cluster of one host, in Envoy's v3 JSON form. */
function singleHostCluster(name: string, type: "STRICT_DNS" | "STATIC", address: string, port: number) {
  return {
    name,
    type,
    connect_timeout: "5s",
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socket(address, port) } }] }],
    },
  };
}

/** What differs between the bootstraps Dispatch writes (Kubernetes install, `dispatch up --gateway envoy`). */
export interface EnvoyBootstrapParams {
  nodeId: string;
  /** The xds-server: a DNS name (STRICT_DNS) or an IP (STATIC), and its port. */
  xds: { host: string; port: number; resolve: "STRICT_DNS" | "STATIC" };
  /** The node token Envoy presents to the xds-server (gRPC `authorization: Bearer …`), if it asks for one. */
  nodeToken?: string;
  /**
   * Envoy's admin interface: a loopback port (a pod of its own), or a Unix
   * socket (on a machine whose other programs, function workers included,
   * share the loopback: the admin's config dump holds credentials).
   */
  admin: { port: number } | { pipe: string };
  /** A static listener for probes and metrics on 0.0.0.0, if wanted (needs an admin port). */
  healthPort?: number;
}

/**
 * Envoy's bootstrap (v3, as JSON) for Dispatch in Kubernetes: see
 * {@link buildEnvoyBootstrap}. `deploy/envoy/bootstrap.yaml` is this for the
 * default namespace (a test checks they agree).
 */
export function envoyBootstrap(ctx: RenderContext) {
  return buildEnvoyBootstrap({
    nodeId: "dispatch-envoy",
    xds: { host: ctx.componentHost("xds-server"), port: ports.ads, resolve: "STRICT_DNS" },
    admin: { port: ports.envoyAdmin },
    healthPort: ports.envoyHealth,
  });
}

/**
 * Envoy's bootstrap (v3, as JSON): everything but a health listener comes
 * over one Delta ADS stream (xds_protocol: "Aggregated Discovery Service",
 * incremental variant) from the xds-server; CDS and LDS name ADS as their
 * source, and the clusters' EDS and the listeners' RDS follow from what the
 * xds-server sends. The admin interface listens on loopback only; the
 * optional static listener answers probes (`/healthz` always, `/readyz` with
 * the admin's `/ready`, 200 once Envoy has its first configuration) and
 * serves `/stats/prometheus`.
 */
export function buildEnvoyBootstrap(params: EnvoyBootstrapParams) {
  // The health listener reaches the admin through a loopback cluster.
  const health =
    params.healthPort !== undefined && "port" in params.admin
      ? { port: params.healthPort, adminPort: params.admin.port }
      : undefined;
  const adminRoute = (path: string, rewrite?: string) => ({
    match: { path },
    route: { cluster: ADMIN_CLUSTER, ...(rewrite ? { prefix_rewrite: rewrite } : {}) },
  });
  const healthListener = (port: number) => ({
    name: "dispatch-health",
    address: socket("0.0.0.0", port),
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type": HCM_TYPE,
              stat_prefix: "dispatch_health",
              route_config: {
                name: "dispatch-health",
                virtual_hosts: [
                  {
                    name: "health",
                    domains: ["*"],
                    routes: [
                      {
                        match: { path: "/healthz" },
                        direct_response: { status: 200, body: { inline_string: "ok\n" } },
                      },
                      adminRoute("/readyz", "/ready"),
                      adminRoute("/stats/prometheus"),
                    ],
                  },
                ],
              },
              http_filters: [{ name: "envoy.filters.http.router", typed_config: { "@type": ROUTER_TYPE } }],
            },
          },
        ],
      },
    ],
  });
  return {
    node: { id: params.nodeId, cluster: params.nodeId },
    admin: {
      address:
        "pipe" in params.admin
          ? { pipe: { path: params.admin.pipe, mode: 0o600 } }
          : socket("127.0.0.1", params.admin.port),
    },
    dynamic_resources: {
      ads_config: {
        api_type: "DELTA_GRPC",
        transport_api_version: "V3",
        grpc_services: [
          {
            envoy_grpc: { cluster_name: XDS_CLUSTER },
            ...(params.nodeToken
              ? { initial_metadata: [{ key: "authorization", value: `Bearer ${params.nodeToken}` }] }
              : {}),
          },
        ],
        set_node_on_first_message_only: true,
      },
      cds_config: { ads: {}, resource_api_version: "V3" },
      lds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      listeners: health === undefined ? [] : [healthListener(health.port)],
      clusters: [
        {
          ...singleHostCluster(XDS_CLUSTER, params.xds.resolve, params.xds.host, params.xds.port),
          // ADS is gRPC: HTTP/2 to the xds-server.
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": HTTP_OPTIONS_TYPE,
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
        ...(health === undefined
          ? []
          : [singleHostCluster(ADMIN_CLUSTER, "STATIC", "127.0.0.1", health.adminPort)]),
      ],
    },
  };
}

/** The bootstrap as the YAML file Envoy reads (`--config-path`). */
export function envoyBootstrapYaml(ctx: RenderContext): string {
  return stringify(envoyBootstrap(ctx), { lineWidth: 0 });
}
