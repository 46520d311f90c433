import { create } from "@bufbuild/protobuf";
import { AnySchema, anyPack, durationFromMs } from "@bufbuild/protobuf/wkt";
import {
  type Cluster_LbPolicy,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  DirectResponseActionSchema,
  HeaderMatcherSchema,
  HeaderValueOptionSchema,
  HttpConnectionManagerSchema,
  JwtPerRouteConfigSchema,
  ListenerSchema,
  LocalRateLimitSchema,
  RemoteJwksSchema,
  RouteMatchSchema,
  RouteSchema,
  TokenBucketSchema,
  VirtualHostSchema,
} from "@dispatch/proto/envoy";
import test from "ava";
import { checkMessage, maxViolations } from "./pgv.js";

// Each rule kind that Envoy's protos use, against a message that breaks it.

test("pgv: string min_len", (t) => {
  t.deepEqual(checkMessage(ClusterSchema, create(ClusterSchema, { name: "" })), [
    { path: "name", message: "must be at least 1 character long" },
  ]);
});

test("pgv: string pattern (path_separated_prefix may not end with a slash)", (t) => {
  const match = create(RouteMatchSchema, { pathSpecifier: { case: "pathSeparatedPrefix", value: "/a/" } });
  t.deepEqual(checkMessage(RouteMatchSchema, match), [
    { path: "path_separated_prefix", message: 'must match the pattern "^[^?#]+[^?#/]$"' },
  ]);
  const fine = create(RouteMatchSchema, { pathSpecifier: { case: "pathSeparatedPrefix", value: "/a" } });
  t.deepEqual(checkMessage(RouteMatchSchema, fine), []);
});

test("pgv: well-known HTTP header name and value (Envoy's loose form: no NUL, CR, LF)", (t) => {
  const header = create(HeaderValueOptionSchema, { header: { key: "x-ok", value: "a\r\nInjected: 1" } });
  t.deepEqual(checkMessage(HeaderValueOptionSchema, header), [
    { path: "header.value", message: "must be a valid HTTP header value (no NUL, CR or LF)" },
  ]);
  const name = create(HeaderMatcherSchema, {
    name: "bad\nname",
    headerMatchSpecifier: { case: "presentMatch", value: true },
  });
  t.deepEqual(checkMessage(HeaderMatcherSchema, name), [
    { path: "name", message: "must be a valid HTTP header name" },
  ]);
});

test("pgv: string max_bytes counts bytes, not characters", (t) => {
  const header = create(HeaderValueOptionSchema, { header: { key: "x", value: "é".repeat(8193) } });
  t.deepEqual(checkMessage(HeaderValueOptionSchema, header), [
    { path: "header.value", message: "must be at most 16384 bytes long" },
  ]);
});

test("pgv: string in (response flags)", (t) => {
  const hcm = create(HttpConnectionManagerSchema, {
    statPrefix: "x",
    routeSpecifier: {
      case: "rds",
      value: { configSource: { configSourceSpecifier: { case: "ads", value: {} } } },
    },
    localReplyConfig: {
      mappers: [
        { filter: { filterSpecifier: { case: "responseFlagFilter", value: { flags: ["NR", "XX"] } } } },
      ],
    },
  });
  const violations = checkMessage(HttpConnectionManagerSchema, hcm);
  t.is(violations.length, 1);
  t.is(violations[0]?.path, "local_reply_config.mappers[0].filter.response_flag_filter.flags[1]");
  t.regex(violations[0]?.message ?? "", /^must be one of LH, UH/);
});

test("pgv: repeated min_items and max_items", (t) => {
  t.deepEqual(checkMessage(VirtualHostSchema, create(VirtualHostSchema, { name: "v", domains: [] })), [
    { path: "domains", message: "needs at least 1 item" },
  ]);
  const many = create(RouteSchema, {
    match: { pathSpecifier: { case: "prefix", value: "/" } },
    action: { case: "directResponse", value: { status: 200 } },
    requestHeadersToAdd: Array.from({ length: 1001 }, () => ({ header: { key: "x", value: "y" } })),
  });
  t.deepEqual(checkMessage(RouteSchema, many), [
    { path: "request_headers_to_add", message: "takes at most 1000 items" },
  ]);
});

test("pgv: a required message, and a required oneof", (t) => {
  const route = create(RouteSchema, { action: { case: "directResponse", value: { status: 200 } } });
  t.deepEqual(checkMessage(RouteSchema, route), [{ path: "match", message: "is required" }]);
  const noAction = create(RouteSchema, { match: { pathSpecifier: { case: "path", value: "/" } } });
  t.deepEqual(checkMessage(RouteSchema, noAction), [
    {
      path: "action",
      message: "one of route, redirect, direct_response, filter_action, non_forwarding_action is required",
    },
  ]);
});

test("pgv: enum defined_only and not_in", (t) => {
  t.deepEqual(
    checkMessage(ClusterSchema, create(ClusterSchema, { name: "c", lbPolicy: 99 as Cluster_LbPolicy })),
    [{ path: "lb_policy", message: "99 is not a value of the enum" }],
  );
  const limit = create(LocalRateLimitSchema, { statPrefix: "x", status: { code: 0 } });
  t.deepEqual(checkMessage(LocalRateLimitSchema, limit), [{ path: "status.code", message: "must not be 0" }]);
});

test("pgv: uint32 ranges", (t) => {
  t.deepEqual(checkMessage(DirectResponseActionSchema, create(DirectResponseActionSchema, { status: 700 })), [
    { path: "status", message: "must be at least 200 and less than 600" },
  ]);
  t.deepEqual(
    checkMessage(DirectResponseActionSchema, create(DirectResponseActionSchema, { status: 503 })),
    [],
  );
  const assignment = create(ClusterLoadAssignmentSchema, {
    clusterName: "c",
    endpoints: [
      {
        lbEndpoints: [
          {
            hostIdentifier: {
              case: "endpoint",
              value: {
                address: {
                  address: {
                    case: "socketAddress",
                    value: { address: "10.0.0.1", portSpecifier: { case: "portValue", value: 70000 } },
                  },
                },
              },
            },
          },
        ],
      },
    ],
  });
  t.deepEqual(checkMessage(ClusterLoadAssignmentSchema, assignment), [
    {
      path: "endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value",
      message: "must be at most 65535",
    },
  ]);
});

test("pgv: rules on a wrapper apply to the wrapped value", (t) => {
  const bucket = create(TokenBucketSchema, {
    maxTokens: 1,
    tokensPerFill: 0,
    fillInterval: durationFromMs(1000),
  });
  t.deepEqual(checkMessage(TokenBucketSchema, bucket), [
    { path: "tokens_per_fill", message: "must be greater than 0" },
  ]);
  const unset = create(TokenBucketSchema, { maxTokens: 1, fillInterval: durationFromMs(1000) });
  t.deepEqual(checkMessage(TokenBucketSchema, unset), [], "an unset wrapper is not checked");
});

test("pgv: duration required, gt and lt", (t) => {
  t.deepEqual(checkMessage(TokenBucketSchema, create(TokenBucketSchema, { maxTokens: 1 })), [
    { path: "fill_interval", message: "is required" },
  ]);
  t.deepEqual(
    checkMessage(
      TokenBucketSchema,
      create(TokenBucketSchema, { maxTokens: 0, fillInterval: { seconds: 0n } }),
    ),
    [
      { path: "max_tokens", message: "must be greater than 0" },
      { path: "fill_interval", message: "must be greater than 0s" },
    ],
  );
  const jwks = create(RemoteJwksSchema, {
    httpUri: {
      uri: "https://x",
      httpUpstreamType: { case: "cluster", value: "c" },
      timeout: { seconds: 1n },
    },
    cacheDuration: { seconds: 9_000_000_000n },
  });
  t.deepEqual(checkMessage(RemoteJwksSchema, jwks), [
    { path: "cache_duration", message: "must be at least 0.001s and less than 9000000000s" },
  ]);
});

test("pgv: bool const", (t) => {
  const config = create(JwtPerRouteConfigSchema, {
    requirementSpecifier: { case: "disabled", value: false },
  });
  t.deepEqual(checkMessage(JwtPerRouteConfigSchema, config), [{ path: "disabled", message: "must be true" }]);
});

test("pgv: map key rules", (t) => {
  const cluster = create(ClusterSchema, { name: "c", metadata: { filterMetadata: { "": { a: 1 } } } });
  t.deepEqual(checkMessage(ClusterSchema, cluster), [
    { path: 'metadata.filter_metadata[""] (key)', message: "must be at least 1 character long" },
  ]);
});

test("pgv: a typed config is unpacked and checked, and an unknown type is refused", (t) => {
  const bad = create(HttpConnectionManagerSchema, {
    statPrefix: "",
    routeSpecifier: {
      case: "rds",
      value: { configSource: { configSourceSpecifier: { case: "ads", value: {} } } },
    },
  });
  const listener = create(ListenerSchema, {
    name: "l",
    filterChains: [
      {
        filters: [
          {
            name: "hcm",
            configType: { case: "typedConfig", value: anyPack(HttpConnectionManagerSchema, bad) },
          },
        ],
      },
      {
        filters: [
          {
            name: "mystery",
            configType: {
              case: "typedConfig",
              value: create(AnySchema, { typeUrl: "type.googleapis.com/x.Unknown" }),
            },
          },
        ],
      },
    ],
  });
  t.deepEqual(checkMessage(ListenerSchema, listener), [
    {
      path: "filter_chains[0].filters[0].typed_config.stat_prefix",
      message: "must be at least 1 character long",
    },
    {
      path: "filter_chains[1].filters[0].typed_config",
      message: 'holds a type this server does not know ("type.googleapis.com/x.Unknown")',
    },
  ]);
});

test("pgv: an unset oneof member is not checked, a set one is", (t) => {
  const none = create(RouteMatchSchema, { pathSpecifier: { case: "path", value: "/x" } });
  t.deepEqual(checkMessage(RouteMatchSchema, none), [], "safe_regex (required when set) is not the case");
  const empty = create(RouteMatchSchema, { pathSpecifier: { case: "safeRegex", value: { regex: "" } } });
  t.deepEqual(checkMessage(RouteMatchSchema, empty), [
    { path: "safe_regex.regex", message: "must be at least 1 character long" },
  ]);
});

test("pgv: a badly broken message reports a bounded number of violations", (t) => {
  const vh = create(VirtualHostSchema, {
    name: "v",
    domains: ["x"],
    routes: Array.from({ length: 500 }, () => ({})),
  });
  t.is(checkMessage(VirtualHostSchema, vh).length, maxViolations);
});
