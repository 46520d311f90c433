import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { EndpointSchema, FunctionSchema, Phase } from "@dispatch/proto";
import {
  CLUSTER_TYPE_URL,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ListenerSchema,
  ROUTE_TYPE_URL,
  type RouteConfiguration,
  RouteConfigurationSchema,
  registry,
} from "@dispatch/proto/envoy";
import { ConfigurationError } from "@dispatch/server-kit";
import test from "ava";
import {
  checkMessage,
  type EnvoyResources,
  type IngressSnapshot,
  resolveTranslateOptions,
  translateIngress,
  translateIrToEnvoy,
  type XdsResource,
} from "../src/index.js";
import { fixtureOptions, readyFunction, snapshotOf } from "./support/snapshot.js";

const options = resolveTranslateOptions(fixtureOptions);
const check = (r: XdsResource) => checkMessage(r.schema, r.message);

function bytes(envoy: EnvoyResources) {
  return {
    listeners: envoy.listeners.map((m) => Buffer.from(toBinary(ListenerSchema, m)).toString("base64")),
    routes: envoy.routeConfigurations.map((m) =>
      Buffer.from(toBinary(RouteConfigurationSchema, m)).toString("base64"),
    ),
    clusters: envoy.clusters.map((m) => Buffer.from(toBinary(ClusterSchema, m)).toString("base64")),
    assignments: envoy.clusterLoadAssignments.map((m) =>
      Buffer.from(toBinary(ClusterLoadAssignmentSchema, m)).toString("base64"),
    ),
  };
}

const helloEndpoint = {
  meta: { name: "hello", org: "default" },
  spec: {
    function: "hello",
    paths: ["/hello", "/hello/*"],
    methods: ["GET"],
    cors: {},
    rateLimit: { requests: 5 },
  },
};

test("a function moving between its instances and the activator changes only its ClusterLoadAssignment", (t) => {
  const warm = translateIngress(
    snapshotOf({ endpoints: [helloEndpoint], functions: [readyFunction("hello", ["http://10.0.0.1:9000"])] }),
    options,
    check,
  );
  const cold = translateIngress(
    snapshotOf({
      endpoints: [helloEndpoint],
      functions: [
        { meta: { name: "hello", org: "default" }, status: { phase: "PHASE_READY", readyInstances: 0 } },
      ],
    }),
    options,
    check,
  );
  const [w, c] = [bytes(warm.envoy), bytes(cold.envoy)];
  t.deepEqual(c.listeners, w.listeners, "listener bytes unchanged");
  t.deepEqual(c.routes, w.routes, "route configuration bytes unchanged");
  t.deepEqual(c.clusters, w.clusters, "cluster bytes unchanged");
  t.notDeepEqual(c.assignments, w.assignments, "the load assignment changed");
  const address = (r: typeof warm) =>
    r.envoy.clusterLoadAssignments[0]?.endpoints[0]?.lbEndpoints.map((e) =>
      e.hostIdentifier.case === "endpoint" && e.hostIdentifier.value.address?.address.case === "socketAddress"
        ? `${e.hostIdentifier.value.address.address.value.address}:${e.hostIdentifier.value.address.address.value.portSpecifier.value}`
        : "",
    );
  t.deepEqual(address(warm), ["10.0.0.1:9000"]);
  t.deepEqual(address(cold), ["10.0.0.100:8081"], "the activator");
  t.true(cold.ir.clusters[0]?.activator);
});

test("the translation does not depend on the order of its input", (t) => {
  const endpoints = [
    helloEndpoint,
    {
      meta: { name: "b", org: "acme" },
      spec: { function: "hello", paths: ["/b", "~^/c[0-9]+$"], hosts: ["b.example"] },
    },
    {
      meta: { name: "c", org: "default" },
      spec: {
        backends: [
          { function: "hello", weight: 1 },
          { function: "x", weight: 3 },
        ],
        paths: ["/c/*"],
      },
    },
    {
      meta: { name: "d", org: "default" },
      spec: { function: "x", paths: ["/d"], auth: { token: { secret: "s" } } },
    },
  ];
  const functions = [
    readyFunction("hello", ["http://10.0.0.2:1", "http://10.0.0.1:1"]),
    readyFunction("hello", ["http://10.0.1.1:1"], { org: "acme" }),
    readyFunction("x", ["http://10.0.0.3:1"]),
  ];
  const tokens = { "default/s": ["b", "a"] };
  const one = translateIngress(snapshotOf({ endpoints, functions, tokens }), options, check);
  const other = translateIngress(
    snapshotOf({ endpoints: [...endpoints].reverse(), functions: [...functions].reverse(), tokens }),
    options,
    check,
  );
  t.deepEqual(bytes(other.envoy), bytes(one.envoy));
  t.deepEqual(other.problems, one.problems);
});

test("a resource part that breaks a rule leaves out the endpoint it came from, and only that one", (t) => {
  const snapshot = snapshotOf({
    endpoints: [
      { meta: { name: "good", org: "default" }, spec: { function: "hello", paths: ["/good"] } },
      { meta: { name: "bad", org: "default" }, spec: { function: "hello", paths: ["/bad"] } },
    ],
    functions: [readyFunction("hello", ["http://10.0.0.1:9000"])],
  });
  // A checker that rejects what Envoy would reject, plus the route of /bad
  // (standing in for any rule a translated field could break).
  const seen: string[] = [];
  const result = translateIngress(snapshot, options, (r) => {
    const violations = check(r);
    if (r.typeUrl === ROUTE_TYPE_URL) {
      const config = r.message as RouteConfiguration;
      for (const [i, vh] of config.virtualHosts.entries()) {
        for (const [j, route] of vh.routes.entries()) {
          seen.push(route.name);
          if (route.name === "default/bad/0") {
            violations.push({
              path: `virtual_hosts[${i}].routes[${j}].match.path`,
              message: "is not allowed",
            });
          }
        }
      }
    }
    return violations;
  });
  t.deepEqual(
    result.problems.map((p) => [p.endpoint, p.reason, p.served]),
    [["default/bad", "RejectedByValidation", false]],
  );
  t.regex(
    result.problems[0]?.message ?? "",
    /RouteConfiguration "dispatch-http" at virtual_hosts\[0\]\.routes\[0\]\.match\.path: is not allowed/,
  );
  const served = result.envoy.routeConfigurations[0]?.virtualHosts.flatMap((vh) =>
    vh.routes.map((r) => r.name),
  );
  t.deepEqual(served, ["default/good/0"]);
  t.true(seen.includes("default/bad/0"), "the first round had it");
});

test("a cluster that breaks a rule leaves out every endpoint that sends to it", (t) => {
  const snapshot = snapshotOf({
    endpoints: [
      { meta: { name: "a", org: "default" }, spec: { function: "shared", paths: ["/a"] } },
      {
        meta: { name: "b", org: "default" },
        spec: {
          backends: [
            { function: "shared", weight: 1 },
            { function: "other", weight: 1 },
          ],
          paths: ["/b"],
        },
      },
      { meta: { name: "c", org: "default" }, spec: { function: "other", paths: ["/c"] } },
    ],
    functions: [
      readyFunction("shared", ["http://10.0.0.1:1"]),
      readyFunction("other", ["http://10.0.0.2:1"]),
    ],
  });
  const result = translateIngress(snapshot, options, (r) =>
    r.typeUrl === CLUSTER_TYPE_URL && r.name === "function/default/shared"
      ? [{ path: "connect_timeout", message: "must be greater than 0s" }]
      : check(r),
  );
  t.deepEqual(
    result.problems.map((p) => p.endpoint),
    ["default/a", "default/b"],
  );
  t.deepEqual(
    result.envoy.clusters.map((c) => c.name),
    ["function/default/other"],
  );
});

test("a violation no endpoint caused fails the whole translation with a ConfigurationError", (t) => {
  const snapshot = snapshotOf({
    endpoints: [{ meta: { name: "a", org: "default" }, spec: { function: "f", paths: ["/a"] } }],
    functions: [readyFunction("f", ["http://10.0.0.1:1"])],
  });
  const error = t.throws(
    () =>
      translateIngress(snapshot, options, (r) =>
        r.typeUrl === "type.googleapis.com/envoy.config.listener.v3.Listener"
          ? [
              {
                path: "filter_chains[0].filters[0].typed_config.stat_prefix",
                message: "must be at least 1 character long",
              },
            ]
          : [],
      ),
    { instanceOf: ConfigurationError },
  );
  t.regex(error?.message ?? "", /not caused by any endpoint: Listener "dispatch-http" at filter_chains/);
});

test("a JWT provider that breaks a rule is traced to its endpoint", (t) => {
  const snapshot = snapshotOf({
    endpoints: [
      {
        meta: { name: "secure", org: "default" },
        spec: {
          function: "f",
          paths: ["/s"],
          auth: { jwt: { issuer: "i", jwksUri: "https://keys.example/jwks" } },
        },
      },
      { meta: { name: "open", org: "default" }, spec: { function: "f", paths: ["/o"] } },
    ],
    functions: [readyFunction("f", ["http://10.0.0.1:1"])],
  });
  const result = translateIngress(snapshot, options, (r) =>
    r.typeUrl === LISTENER_TYPE_URL && hasProvider(r)
      ? [
          {
            path: 'filter_chains[0].filters[0].typed_config.http_filters[2].typed_config.providers["default/secure"].issuer',
            message: "is refused",
          },
        ]
      : check(r),
  );
  t.deepEqual(
    result.problems.map((p) => [p.endpoint, p.reason]),
    [["default/secure", "RejectedByValidation"]],
  );
  t.deepEqual(result.ir.jwtProviders, []);
  t.is(
    result.envoy.clusters.find((c) => c.name.startsWith("jwks/")),
    undefined,
    "its JWKS cluster went with it",
  );
});

function hasProvider(r: XdsResource): boolean {
  return Buffer.from(toBinary(ListenerSchema, r.message as never)).includes("default/secure");
}

test("a provider whose key set is inline is configured with local JWKS and no fetch", (t) => {
  const result = translateIngress(
    snapshotOf({
      endpoints: [
        {
          meta: { name: "s", org: "default" },
          spec: {
            function: "f",
            paths: ["/s"],
            auth: { jwt: { issuer: "i", jwksUri: "https://keys.example/jwks" } },
          },
        },
      ],
      functions: [readyFunction("f", ["http://10.0.0.1:1"])],
    }),
    options,
    check,
  );
  const [provider] = result.ir.jwtProviders;
  if (!provider) return t.fail("no provider");
  const keys = JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0" }] });
  const envoy = translateIrToEnvoy({
    ...result.ir,
    jwtProviders: [{ ...provider, jwks: { kind: "inline", json: keys } }],
    jwksClusters: [],
  });
  const [listener] = envoy.listeners;
  if (!listener) return t.fail("no listener");
  t.deepEqual(checkMessage(ListenerSchema, listener), []);
  const json = JSON.stringify(toJson(ListenerSchema, listener, { registry }));
  t.true(json.includes(JSON.stringify({ localJwks: { inlineString: keys } }).slice(1, -1)));
  t.false(json.includes("remoteJwks"));
  t.false(envoy.clusters.some((c) => c.name.startsWith("jwks/")));
});

test("endpoints of other orgs live under /<org>, and their functions see their own paths", (t) => {
  const result = translateIngress(
    snapshotOf({
      endpoints: [{ meta: { name: "e", org: "acme" }, spec: { function: "f", paths: ["/hello"] } }],
      functions: [readyFunction("f", ["http://10.0.0.1:1"], { org: "acme" })],
    }),
    options,
    check,
  );
  const route = result.envoy.routeConfigurations[0]?.virtualHosts[0]?.routes[0];
  t.deepEqual(route?.match?.pathSpecifier, { case: "path", value: "/acme/hello" });
  const action = route?.action.case === "route" ? route.action.value : undefined;
  t.is(action?.regexRewrite?.pattern?.regex, "^/acme(/|$)");
  t.is(action?.regexRewrite?.substitution, "/");
});

test("every function a route uses has a cluster and a load assignment of the same name", (t) => {
  const result = translateIngress(
    snapshotOf({
      endpoints: [
        {
          meta: { name: "a", org: "default" },
          spec: {
            backends: [
              { function: "f", weight: 1 },
              { function: "g", weight: 2 },
            ],
            paths: ["/a"],
          },
        },
      ],
      functions: [readyFunction("f", ["http://10.0.0.1:1"]), readyFunction("g", ["http://10.0.0.2:1"])],
    }),
    options,
    check,
  );
  const names = result.resources.filter((r) => r.typeUrl === ENDPOINT_TYPE_URL).map((r) => r.name);
  t.deepEqual(names, ["function/default/f", "function/default/g"]);
  t.deepEqual(
    result.envoy.clusters.map((c) => c.edsClusterConfig?.serviceName),
    names,
  );
  t.deepEqual(
    result.resources.map((r) => r.typeUrl.slice(r.typeUrl.lastIndexOf(".") + 1)),
    [
      "Cluster",
      "Cluster",
      "ClusterLoadAssignment",
      "ClusterLoadAssignment",
      "Listener",
      "RouteConfiguration",
    ],
    "resources come in push order",
  );
});

test("translation options are checked, every bad one named", (t) => {
  const error = t.throws(
    () =>
      resolveTranslateOptions({
        activator: { host: "activator.local", port: 0 },
        listener: { name: "Bad Name" },
        defaultTimeoutMs: -1,
      }),
    { instanceOf: ConfigurationError },
  );
  t.regex(error?.message ?? "", /activator\.host "activator\.local" must be an IP address/);
  t.regex(error?.message ?? "", /activator\.port 0 is not a port/);
  t.regex(error?.message ?? "", /listener\.name "Bad Name"/);
  t.regex(error?.message ?? "", /defaultTimeoutMs/);
});

test("hostile input stays bounded: huge lists and strings are refused, not translated", (t) => {
  const big = create(EndpointSchema, {
    meta: { name: "big", org: "default" },
    spec: {
      function: "f",
      paths: Array.from({ length: 1000 }, (_, i) => `/p${i}`),
      hosts: ["a".repeat(300)],
    },
  });
  const small = create(EndpointSchema, {
    meta: { name: "small", org: "default" },
    spec: { function: "f", paths: ["/s"] },
  });
  const fn = create(FunctionSchema, {
    meta: { name: "f", org: "default" },
    status: {
      phase: Phase.READY,
      endpoints: Array.from(
        { length: 5000 },
        (_, i) => `http://10.${i % 250}.${Math.floor(i / 250)}.1:${1000 + i}`,
      ),
    },
  });
  const snapshot: IngressSnapshot = { endpoints: [big, small], functions: [fn], tokens: () => undefined };
  const result = translateIngress(snapshot, options, check);
  t.true(
    result.problems.some(
      (p) => p.endpoint === "default/big" && p.message.startsWith("spec.paths: at most 64 paths"),
    ),
  );
  t.true(
    result.problems.some(
      (p) => p.endpoint === "default/big" && p.message.includes("is not a lowercase host name"),
    ),
  );
  t.deepEqual(
    result.ir.virtualHosts.flatMap((vh) => vh.routes.map((r) => r.endpoint)),
    ["default/small"],
  );
  t.is(result.ir.clusters[0]?.endpoints.length, 1000, "instances per function are capped");
});
