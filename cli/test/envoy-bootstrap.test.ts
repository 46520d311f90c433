import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type DescMessage, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { registry } from "@dispatch/proto/envoy";
import { matchGolden } from "@dispatch/testkit";
import test from "ava";
import { parse } from "yaml";
import { buildEnvoyBootstrap, envoyBootstrap, envoyBootstrapYaml } from "../src/install/envoy-bootstrap.js";
import { loadInstallConfig } from "../src/install/load-config.js";
import { createRenderContext } from "../src/install/render-context.js";

const deployed = fileURLToPath(new URL("../../../deploy/envoy/bootstrap.yaml", import.meta.url));
const defaults = createRenderContext(loadInstallConfig({ defaultTag: "0.1.0" }));

/** The header of deploy/envoy/bootstrap.yaml; the rest is what install renders for the default namespace. */
const header = `# Envoy's bootstrap for Dispatch in the namespace "dispatch": the same that
# \`dispatch install\` puts in the ConfigMap dispatch-envoy (for another namespace
# it names that namespace's xds-server). A test checks the two agree; rewrite
# this file with UPDATE_GOLDEN=1 after changing cli/src/install/envoy-bootstrap.ts.
`;

test("deploy/envoy/bootstrap.yaml is the bootstrap install renders for the default namespace", async (t) => {
  await matchGolden(t, deployed, header + envoyBootstrapYaml(defaults));
  t.deepEqual(parse(await readFile(deployed, "utf8")), envoyBootstrap(defaults));
});

/** Parses part of the bootstrap as an Envoy v3 message: unknown fields, bad enums and bad types fail. */
function asEnvoy(t: { notThrows(fn: () => unknown, message?: string): void }, type: string, json: unknown) {
  const schema = registry.getMessage(type) as DescMessage | undefined;
  if (!schema) throw new Error(`${type} is not generated`);
  t.notThrows(() => fromJson(schema, json as JsonValue, { registry }), type);
}

test("the bootstrap's parts parse as Envoy v3 messages: node, admin address, ADS and config sources, listener, clusters", (t) => {
  const bootstrap = envoyBootstrap(defaults);
  asEnvoy(t, "envoy.config.core.v3.Node", bootstrap.node);
  asEnvoy(t, "envoy.config.core.v3.Address", bootstrap.admin.address);
  asEnvoy(t, "envoy.config.core.v3.ApiConfigSource", bootstrap.dynamic_resources.ads_config);
  asEnvoy(t, "envoy.config.core.v3.ConfigSource", bootstrap.dynamic_resources.cds_config);
  asEnvoy(t, "envoy.config.core.v3.ConfigSource", bootstrap.dynamic_resources.lds_config);
  for (const listener of bootstrap.static_resources.listeners)
    asEnvoy(t, "envoy.config.listener.v3.Listener", listener);
  for (const cluster of bootstrap.static_resources.clusters) {
    // HttpProtocolOptions is not among the generated types: checked by hand below.
    const { typed_extension_protocol_options: _options, ...rest } = cluster as typeof cluster & {
      typed_extension_protocol_options?: unknown;
    };
    asEnvoy(t, "envoy.config.cluster.v3.Cluster", rest);
  }
  // The check is not vacuous: a misspelt field fails it.
  t.throws(() =>
    fromJson(
      registry.getMessage("envoy.config.core.v3.ApiConfigSource") as DescMessage,
      { api_typo: "GRPC" },
      {
        registry,
      },
    ),
  );
});

test("the bootstrap asks the xds-server for Delta ADS on v3, over HTTP/2, and keeps the admin on loopback", (t) => {
  const bootstrap = envoyBootstrap(defaults);
  t.like(bootstrap.dynamic_resources.ads_config, {
    api_type: "DELTA_GRPC",
    transport_api_version: "V3",
    grpc_services: [{ envoy_grpc: { cluster_name: "dispatch-xds" } }],
  });
  t.deepEqual(bootstrap.dynamic_resources.cds_config, { ads: {}, resource_api_version: "V3" });
  t.deepEqual(bootstrap.dynamic_resources.lds_config, { ads: {}, resource_api_version: "V3" });
  const xds = bootstrap.static_resources.clusters.find((c) => c.name === "dispatch-xds") as unknown as {
    load_assignment: unknown;
    typed_extension_protocol_options: Record<string, { "@type": string; explicit_http_config: unknown }>;
  };
  t.like(xds.load_assignment, {
    endpoints: [
      {
        lb_endpoints: [
          {
            endpoint: {
              address: {
                socket_address: {
                  address: "dispatch-xds-server.dispatch.svc.cluster.local",
                  port_value: 18000,
                },
              },
            },
          },
        ],
      },
    ],
  });
  const options =
    xds.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
  t.is(options?.["@type"], "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions");
  t.deepEqual(options?.explicit_http_config, { http2_protocol_options: {} });
  t.deepEqual(bootstrap.admin.address, { socket_address: { address: "127.0.0.1", port_value: 9901 } });

  // In another namespace and cluster domain, Envoy asks that namespace's xds-server.
  const prod = createRenderContext(
    loadInstallConfig({ text: "namespace: prod\nclusterDomain: k8s.internal\n", defaultTag: "0.1.0" }),
  );
  t.regex(envoyBootstrapYaml(prod), /address: dispatch-xds-server\.prod\.svc\.k8s\.internal\n/);
});

test("dispatch up's Envoy bootstrap: a static xds cluster on loopback, the node token in the ADS stream's metadata, the admin on a Unix socket, no health listener", (t) => {
  const bootstrap = buildEnvoyBootstrap({
    nodeId: "dispatch-up-envoy",
    xds: { host: "127.0.0.1", port: 18000, resolve: "STATIC" },
    nodeToken: "node-token-0123456789",
    admin: { pipe: "/data/envoy/admin.sock" },
  });
  asEnvoy(t, "envoy.config.core.v3.ApiConfigSource", bootstrap.dynamic_resources.ads_config);
  t.deepEqual(bootstrap.dynamic_resources.ads_config.grpc_services[0]?.initial_metadata, [
    { key: "authorization", value: "Bearer node-token-0123456789" },
  ]);
  t.deepEqual(bootstrap.static_resources.listeners, []);
  t.deepEqual(
    bootstrap.static_resources.clusters.map((c) => c.name),
    ["dispatch-xds"],
    "no loopback cluster to the admin: nothing on the loopback reaches it",
  );
  const xds = bootstrap.static_resources.clusters.find((c) => c.name === "dispatch-xds");
  t.like(xds, { type: "STATIC" });
  const { typed_extension_protocol_options: _options, ...rest } = xds as NonNullable<typeof xds> & {
    typed_extension_protocol_options?: unknown;
  };
  asEnvoy(t, "envoy.config.cluster.v3.Cluster", rest);
  asEnvoy(t, "envoy.config.core.v3.Address", bootstrap.admin.address);
  t.deepEqual(bootstrap.admin.address, { pipe: { path: "/data/envoy/admin.sock", mode: 0o600 } });
});
