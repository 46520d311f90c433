import { existsSync, readFileSync } from "node:fs";
import { create, equals, fromBinary, fromJson, getOption, toBinary, toJson } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, DurationSchema } from "@bufbuild/protobuf/wkt";
import test from "ava";
import {
  ApiVersion,
  CLUSTER_TYPE_URL,
  Cluster_DiscoveryType,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
  DownstreamTlsContextSchema,
  ENDPOINT_TYPE_URL,
  HTTP_CONNECTION_MANAGER_TYPE_URL,
  HttpConnectionManager_CodecType,
  HttpConnectionManagerSchema,
  LISTENER_TYPE_URL,
  ListenerSchema,
  ROUTE_TYPE_URL,
  ROUTER_TYPE_URL,
  RouteConfigurationSchema,
  RouterSchema,
  registry,
  SECRET_TYPE_URL,
  SecretSchema,
  TYPE_URL_PREFIX,
  UPSTREAM_TLS_CONTEXT_TYPE_URL,
  UpstreamTlsContextSchema,
  validateRules,
} from "../src/envoy.js";
import { UpstreamHttpProtocolOptionsSchema } from "../src/gen/envoy-api/envoy/config/core/v3/protocol_pb.js";

const adsConfigSource = {
  configSourceSpecifier: { case: "ads" as const, value: {} },
  resourceApiVersion: ApiVersion.V3,
};

function helloCluster() {
  return create(ClusterSchema, {
    name: "default/fn/hello",
    clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { edsConfig: adsConfigSource },
    connectTimeout: { seconds: 5n },
    transportSocket: {
      name: "envoy.transport_sockets.tls",
      configType: {
        case: "typedConfig",
        value: anyPack(UpstreamTlsContextSchema, create(UpstreamTlsContextSchema, { sni: "hello.internal" })),
      },
    },
  });
}

function httpListener() {
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: "ingress_http",
    codecType: HttpConnectionManager_CodecType.AUTO,
    routeSpecifier: { case: "rds", value: { configSource: adsConfigSource, routeConfigName: "http" } },
    httpFilters: [
      {
        name: "envoy.filters.http.router",
        configType: {
          case: "typedConfig",
          value: anyPack(RouterSchema, create(RouterSchema, { suppressEnvoyHeaders: true })),
        },
      },
    ],
  });
  return create(ListenerSchema, {
    name: "http",
    address: {
      address: {
        case: "socketAddress",
        value: { address: "0.0.0.0", portSpecifier: { case: "portValue", value: 8080 } },
      },
    },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, hcm) },
          },
        ],
      },
    ],
  });
}

test("envoy: a Cluster with a packed UpstreamTlsContext round-trips through binary and JSON", (t) => {
  const cluster = helloCluster();

  const fromWire = fromBinary(ClusterSchema, toBinary(ClusterSchema, cluster));
  t.true(equals(ClusterSchema, fromWire, cluster, { registry, unpackAny: true }));
  t.deepEqual(fromWire.clusterDiscoveryType, { case: "type", value: Cluster_DiscoveryType.EDS });
  t.is(fromWire.connectTimeout?.seconds, 5n);
  t.is(fromWire.edsClusterConfig?.edsConfig?.configSourceSpecifier.case, "ads");
  const socket = fromWire.transportSocket?.configType;
  const packed = socket?.case === "typedConfig" ? socket.value : undefined;
  t.is(packed?.typeUrl, UPSTREAM_TLS_CONTEXT_TYPE_URL);
  t.is(packed && anyUnpack(packed, UpstreamTlsContextSchema)?.sni, "hello.internal");

  const json = toJson(ClusterSchema, cluster, { registry });
  t.deepEqual(json, {
    name: "default/fn/hello",
    type: "EDS",
    edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: "V3" } },
    connectTimeout: "5s",
    transportSocket: {
      name: "envoy.transport_sockets.tls",
      typedConfig: { "@type": UPSTREAM_TLS_CONTEXT_TYPE_URL, sni: "hello.internal" },
    },
  });
  t.true(equals(ClusterSchema, fromJson(ClusterSchema, json, { registry }), cluster));
});

test("envoy: a Listener with an HttpConnectionManager packed in Any round-trips through binary and JSON", (t) => {
  const listener = httpListener();

  const fromWire = fromBinary(ListenerSchema, toBinary(ListenerSchema, listener));
  t.true(equals(ListenerSchema, fromWire, listener));
  const address = fromWire.address?.address;
  t.is(address?.case, "socketAddress");
  t.deepEqual(address?.case === "socketAddress" ? address.value.portSpecifier : undefined, {
    case: "portValue",
    value: 8080,
  });
  const filter = fromWire.filterChains[0]?.filters[0];
  t.is(filter?.name, "envoy.filters.network.http_connection_manager");
  const packed = filter?.configType.case === "typedConfig" ? filter.configType.value : undefined;
  t.is(packed?.typeUrl, HTTP_CONNECTION_MANAGER_TYPE_URL);

  // By type URL, the way a client that does not know the type in advance unpacks it.
  const unpacked = packed && anyUnpack(packed, registry);
  t.is(unpacked?.$typeName, HttpConnectionManagerSchema.typeName);
  const hcm = packed && anyUnpack(packed, HttpConnectionManagerSchema);
  t.is(hcm?.statPrefix, "ingress_http");
  t.is(hcm?.routeSpecifier.case === "rds" ? hcm.routeSpecifier.value.routeConfigName : undefined, "http");
  const router = hcm?.httpFilters[0]?.configType;
  t.is(
    router?.case === "typedConfig" ? anyUnpack(router.value, RouterSchema)?.suppressEnvoyHeaders : undefined,
    true,
  );

  const json = toJson(ListenerSchema, listener, { registry });
  t.deepEqual(json, {
    name: "http",
    address: { socketAddress: { address: "0.0.0.0", portValue: 8080 } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: {
              "@type": HTTP_CONNECTION_MANAGER_TYPE_URL,
              statPrefix: "ingress_http",
              rds: { configSource: { ads: {}, resourceApiVersion: "V3" }, routeConfigName: "http" },
              httpFilters: [
                {
                  name: "envoy.filters.http.router",
                  typedConfig: { "@type": ROUTER_TYPE_URL, suppressEnvoyHeaders: true },
                },
              ],
            },
          },
        ],
      },
    ],
  });
  t.true(equals(ListenerSchema, fromJson(ListenerSchema, json, { registry }), listener));
  // Without the registry the Any cannot be written as JSON: its type is unknown.
  t.throws(() => toJson(ListenerSchema, listener));
});

test("envoy: the type URL constants name the generated messages, and the registry resolves them", (t) => {
  const pairs = [
    [CLUSTER_TYPE_URL, ClusterSchema],
    [ENDPOINT_TYPE_URL, ClusterLoadAssignmentSchema],
    [LISTENER_TYPE_URL, ListenerSchema],
    [ROUTE_TYPE_URL, RouteConfigurationSchema],
    [SECRET_TYPE_URL, SecretSchema],
    [HTTP_CONNECTION_MANAGER_TYPE_URL, HttpConnectionManagerSchema],
    [ROUTER_TYPE_URL, RouterSchema],
    [UPSTREAM_TLS_CONTEXT_TYPE_URL, UpstreamTlsContextSchema],
    [DOWNSTREAM_TLS_CONTEXT_TYPE_URL, DownstreamTlsContextSchema],
  ] as const;
  for (const [typeUrl, schema] of pairs) {
    t.is(typeUrl, `${TYPE_URL_PREFIX}${schema.typeName}`);
    t.is(registry.getMessage(schema.typeName), schema);
  }
  // The well-known types the Envoy files import are in the registry too.
  t.is(registry.getMessage("google.protobuf.Duration")?.typeName, DurationSchema.typeName);
});

test("envoy: the descriptors keep the validate.rules annotations, including the patched-in fields", (t) => {
  const name = getOption(ClusterSchema.field.name, validateRules);
  t.is(name.type.case, "string");
  t.is(name.type.case === "string" ? name.type.value.minLen : undefined, 1n);

  // `ignore_empty` is missing from the validate.proto shipped in @grpc/grpc-js-xds;
  // generate-envoy.mjs adds it so this annotation is kept rather than rejected.
  const sni = getOption(UpstreamHttpProtocolOptionsSchema.field.overrideAutoSniHeader, validateRules);
  t.is(sni.type.case === "string" ? sni.type.value.ignoreEmpty : undefined, true);
});

test("envoy: the package exports the module as @dispatch/proto/envoy", async (t) => {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  const entry = manifest.exports["./envoy"];
  t.true(existsSync(new URL(`../../${entry.types}`, import.meta.url)));
  // A variable specifier, so tsc does not resolve this project's own output.
  const specifier = "@dispatch/proto/envoy";
  const viaExports = await import(specifier);
  t.is(viaExports.registry, registry);
});
