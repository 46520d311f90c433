import { create } from "@bufbuild/protobuf";
import {
  CorsSchema,
  JwtAuthenticationSchema,
  LocalRateLimitSchema,
  RouteConfigurationSchema,
} from "@dispatch/proto/envoy";
import test from "ava";
import { ConfigError } from "../../src/route-table/config-error.js";
import { compiler, httpFilter, listener, prefixRoute, rds, request, routerFilter } from "../support/envoy.js";

test("listeners: routes by RDS over ADS, filters in order before the router", (t) => {
  const compiled = compiler.listener(
    listener("http", {
      routeSpecifier: rds("routes"),
      httpFilters: [
        httpFilter("envoy.filters.http.cors", CorsSchema, {}),
        httpFilter("envoy.filters.http.local_ratelimit", LocalRateLimitSchema, { statPrefix: "rl" }),
        routerFilter(),
      ],
    }),
  );
  t.deepEqual(compiled.routeConfigNames, ["routes"]);
  t.is(compiled.port, 8080);
  const manager = compiled.connectionManager(false);
  t.deepEqual(
    manager?.filters.map((f) => f.name),
    ["envoy.filters.http.cors", "envoy.filters.http.local_ratelimit"],
  );
  t.deepEqual(manager?.routes, { kind: "rds", name: "routes" });
});

test("listeners: an inline route_config is compiled with the listener", (t) => {
  const compiled = compiler.listener(
    listener("http", {
      routeSpecifier: {
        case: "routeConfig",
        value: create(RouteConfigurationSchema, {
          name: "inline",
          virtualHosts: [{ name: "all", domains: ["*"], routes: [prefixRoute("/", "c")] }],
        }),
      },
    }),
  );
  const manager = compiled.connectionManager(false);
  if (manager?.routes.kind !== "inline") return t.fail("inline routes");
  t.is(manager.routes.table.route(request("GET", "http://h/x"), 0).route?.action.kind, "forward");
  t.deepEqual(compiled.routeConfigNames, []);
});

test("listeners: the router must be last, names unique, unknown filters optional", (t) => {
  const refuse = (filters: ReturnType<typeof routerFilter>[], message: RegExp) => {
    const error = t.throws(
      () => compiler.listener(listener("http", { routeSpecifier: rds("r"), httpFilters: filters })),
      {
        instanceOf: ConfigError,
      },
    );
    t.regex(error.message, message);
  };
  const cors = httpFilter("envoy.filters.http.cors", CorsSchema, {});
  refuse([routerFilter(), cors], /http_filters\[0\]: the router filter must be the last HTTP filter/);
  refuse([cors], /http_filters\[0\]: the last HTTP filter must be the router/);
  refuse([cors, cors, routerFilter()], /http_filters\[1\]\.name: "envoy.filters.http.cors" is listed twice/);
  const unknown = {
    ...cors,
    name: "lua",
    configType: {
      case: "typedConfig" as const,
      value: {
        $typeName: "google.protobuf.Any" as const,
        typeUrl: "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        value: new Uint8Array(),
      },
    },
  };
  refuse(
    [unknown, routerFilter()],
    /the gateway has no HTTP filter for type.googleapis.com\/envoy.extensions.filters.http.lua.v3.Lua \(mark the filter is_optional or remove it\)/,
  );
  const optional = compiler.listener(
    listener("http", {
      routeSpecifier: rds("r"),
      httpFilters: [{ ...unknown, isOptional: true }, routerFilter()],
    }),
  );
  t.deepEqual(optional.connectionManager(false)?.filters, [], "an optional unknown filter is skipped");
});

test("listeners: routes and JWKS must come over ADS / through clusters", (t) => {
  const error = t.throws(
    () =>
      compiler.listener(
        listener("http", {
          routeSpecifier: {
            case: "rds",
            value: {
              routeConfigName: "r",
              configSource: { configSourceSpecifier: { case: "path", value: "/etc/routes.yaml" } },
            },
          },
        }),
      ),
    { instanceOf: ConfigError },
  );
  t.regex(error.message, /rds\.config_source: must be ads \(or self\)/);
  const jwt = compiler.listener(
    listener("http", {
      routeSpecifier: rds("r"),
      httpFilters: [
        httpFilter("envoy.filters.http.jwt_authn", JwtAuthenticationSchema, {
          providers: {
            issuer: {
              issuer: "https://issuer.test",
              jwksSourceSpecifier: {
                case: "remoteJwks",
                value: {
                  httpUri: {
                    uri: "https://issuer.test/jwks.json",
                    httpUpstreamType: { case: "cluster", value: "jwks" },
                    timeout: { seconds: 5n },
                  },
                },
              },
            },
          },
        }),
        routerFilter(),
      ],
    }),
  );
  t.deepEqual(
    jwt.connectionManager(false)?.filters[0]?.clusters,
    ["jwks"],
    "the JWKS cluster is a reference to subscribe to",
  );
});
