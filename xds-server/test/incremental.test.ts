import { readdirSync, readFileSync } from "node:fs";
import { clone, create, fromBinary, type JsonValue, toJson } from "@bufbuild/protobuf";
import {
  type Endpoint,
  EndpointSchema,
  type Function as FunctionResource,
  FunctionSchema,
} from "@dispatch/proto";
import {
  type Route,
  type RouteConfiguration,
  RouteConfigurationSchema,
  RouteMatchSchema,
  registry,
} from "@dispatch/proto/envoy";
import test from "ava";
import {
  checkMessage,
  createEndpointConfigs,
  createResourceMemo,
  encodeRouteConfiguration,
  endpointConfigs,
  type IngressSnapshot,
  type IngressTranslation,
  resolveTranslateOptions,
  TranslationMemo,
  translateIngress,
  type XdsResource,
} from "../src/index.js";
import { fixtureOptions, readyFunction, type SnapshotFixture, snapshotOf } from "./support/snapshot.js";

// The translator reuses what did not change (TranslationMemo), and the server
// checks and encodes a route configuration route by route (createResourceMemo).
// Both must be invisible: every result equals a translation from scratch.

const options = resolveTranslateOptions(fixtureOptions);
const check = (r: XdsResource) => checkMessage(r.schema, r.message);

function shape(result: IngressTranslation) {
  return JSON.stringify({
    problems: result.problems,
    ir: result.ir,
    resources: result.resources.map((r) => [r.typeUrl, r.name, toJson(r.schema, r.message, { registry })]),
  });
}

const goldenDir = new URL("../../test/golden/", import.meta.url);
const goldenCases = readdirSync(goldenDir)
  .filter((f) => f.endsWith(".in.json"))
  .map((f) => f.slice(0, -".in.json".length));

test("every golden case translated again with a memo, unchanged and after changes, equals a translation from scratch", (t) => {
  for (const name of goldenCases) {
    const fixture = JSON.parse(
      readFileSync(new URL(`${name}.in.json`, goldenDir), "utf8"),
    ) as SnapshotFixture;
    const fixtureOpts = resolveTranslateOptions({ ...fixtureOptions, ...fixture.options });
    const memo = new TranslationMemo();
    const snapshot = snapshotOf(fixture);
    const same = (s: IngressSnapshot, what: string) =>
      t.is(
        shape(translateIngress(s, fixtureOpts, check, memo)),
        shape(translateIngress(s, fixtureOpts, check)),
        `${name}: ${what}`,
      );
    same(snapshot, "first");
    same(snapshot, "again, nothing changed");
    // One endpoint gains a path; one function loses its instances.
    const [first, ...rest] = snapshot.endpoints;
    if (first?.spec) {
      const changed = create(EndpointSchema, {
        ...first,
        spec: { ...first.spec, paths: [...first.spec.paths, "/added"] },
      });
      same({ ...snapshot, endpoints: [changed, ...rest] }, "an endpoint changed");
    }
    const [fn, ...otherFns] = snapshot.functions;
    if (fn) {
      const cold = clone(FunctionSchema, fn);
      if (cold.status) cold.status.endpoints = [];
      same({ ...snapshot, functions: [cold, ...otherFns] }, "a function scaled to zero");
      same({ ...snapshot, functions: otherFns }, "a function deleted");
    }
    same(snapshot, "back as it was");
  }
});

function endpointOf(name: string, fn: string, paths: string[]): Endpoint {
  return fromJsonEndpoint({ meta: { name, org: "default" }, spec: { function: fn, paths } });
}

function fromJsonEndpoint(json: JsonValue): Endpoint {
  return snapshotOf({ endpoints: [json] }).endpoints[0] as Endpoint;
}

function functionOf(name: string, addresses: string[]): FunctionResource {
  return snapshotOf({ functions: [readyFunction(name, addresses)] }).functions[0] as FunctionResource;
}

/** The Envoy routes of each endpoint, by endpoint name. */
function routesByEndpoint(result: IngressTranslation): Map<string, Route[]> {
  const out = new Map<string, Route[]>();
  for (const vh of result.envoy.routeConfigurations[0]?.virtualHosts ?? []) {
    for (const route of vh.routes) {
      const endpoint = route.name.split("/")[1] ?? "";
      out.set(endpoint, [...(out.get(endpoint) ?? []), route]);
    }
  }
  return out;
}

test("a change re-translates only what it touches: the endpoint changed, and the endpoints of a function that changed", (t) => {
  const endpoints = Array.from({ length: 20 }, (_, i) => endpointOf(`e${i}`, i < 10 ? "a" : "b", [`/p${i}`]));
  const functions = [functionOf("a", ["http://10.0.0.1:9000"]), functionOf("b", ["http://10.0.0.2:9000"])];
  const memo = new TranslationMemo();
  const snapshot: IngressSnapshot = { endpoints, functions, tokens: () => undefined };
  const before = routesByEndpoint(translateIngress(snapshot, options, check, memo));
  t.is(before.size, 20);

  // e3 changes: its routes are new, every other endpoint's are the very same messages.
  const changed = endpoints.map((e, i) => (i === 3 ? endpointOf("e3", "a", ["/moved"]) : e));
  const first = translateIngress(snapshot, options, check, memo);
  const second = translateIngress({ ...snapshot, endpoints: changed }, options, check, memo);
  const after = routesByEndpoint(second);
  // The functions' clusters and load assignments did not change: the same messages too.
  t.true(second.envoy.clusters.every((c, i) => c === first.envoy.clusters[i]));
  t.true(second.envoy.clusterLoadAssignments.every((c, i) => c === first.envoy.clusterLoadAssignments[i]));
  for (const [name, routes] of after) {
    if (name === "e3") t.notDeepEqual(routes, before.get(name));
    else
      t.true(
        routes.every((r, i) => r === before.get(name)?.[i]),
        `${name} reused`,
      );
  }

  // Function b goes cold (a new object): e10-e19 are planned again (they now point at the activator), e0-e9 are not.
  const coldB = functionOf("b", []);
  coldB.status = create(FunctionSchema, {}).status;
  const third = routesByEndpoint(
    translateIngress(
      { endpoints: changed, functions: [functions[0] as FunctionResource, coldB], tokens: () => undefined },
      options,
      check,
      memo,
    ),
  );
  const thirdTranslation = translateIngress(
    { endpoints: changed, functions: [functions[0] as FunctionResource, coldB], tokens: () => undefined },
    options,
    check,
    memo,
  );
  const assignmentOf = (r: IngressTranslation, name: string) =>
    r.envoy.clusterLoadAssignments.find((c) => c.clusterName === name);
  t.is(assignmentOf(thirdTranslation, "function/default/a"), assignmentOf(second, "function/default/a"));
  t.not(assignmentOf(thirdTranslation, "function/default/b"), assignmentOf(second, "function/default/b"));
  for (const [name, routes] of third) {
    const index = Number(name.slice(1));
    if (index < 10)
      t.true(
        routes.every((r, i) => r === after.get(name)?.[i]),
        `${name} reused`,
      );
    else t.false(routes[0] === after.get(name)?.[0], `${name} planned again`);
  }
});

test("a route configuration encoded route by route decodes to the same message, and is checked to the same violations", (t) => {
  const fixture = JSON.parse(
    readFileSync(new URL("match-order.in.json", goldenDir), "utf8"),
  ) as SnapshotFixture;
  const result = translateIngress(snapshotOf(fixture), options, check);
  const config = result.envoy.routeConfigurations[0] as RouteConfiguration;
  const cached = encodeRouteConfiguration(config.name, config, new WeakMap());
  t.deepEqual(
    toJson(RouteConfigurationSchema, fromBinary(RouteConfigurationSchema, cached.bytes), { registry }),
    toJson(RouteConfigurationSchema, config, { registry }),
  );

  // A route broken, in a virtual host and in a copy of it.
  const broken = create(RouteConfigurationSchema, {
    ...config,
    virtualHosts: config.virtualHosts.map((vh) => ({ ...vh })),
  });
  const [vh0] = broken.virtualHosts;
  if (!vh0 || vh0.routes.length < 2) return t.fail("the fixture needs a virtual host with two routes");
  const bad = { ...vh0.routes[1], match: create(RouteMatchSchema, {}) } as Route;
  vh0.routes = [vh0.routes[0] as Route, bad, ...vh0.routes.slice(2)];
  broken.virtualHosts.push({ ...vh0, name: "copy", domains: ["copy.example.com"] });
  const memo = createResourceMemo();
  const resource = {
    typeUrl: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    name: "x",
    schema: RouteConfigurationSchema,
    message: broken,
  };
  const expected = checkMessage(RouteConfigurationSchema, broken);
  t.deepEqual(
    expected.map((v) => v.path),
    ["virtual_hosts[0].routes[1].match.path_specifier", "virtual_hosts[1].routes[1].match.path_specifier"],
  );
  t.deepEqual(memo.check(resource), expected);
  // Checked again in another configuration, the broken route keeps its verdict at its new place.
  const moved = create(RouteConfigurationSchema, { ...broken, virtualHosts: broken.virtualHosts.slice(1) });
  t.deepEqual(memo.check({ ...resource, message: moved }), checkMessage(RouteConfigurationSchema, moved));
});

test("endpoint configurations kept across translations equal those made afresh", (t) => {
  const fixture = JSON.parse(
    readFileSync(new URL("match-order.in.json", goldenDir), "utf8"),
  ) as SnapshotFixture;
  const snapshot = snapshotOf(fixture);
  const memo = new TranslationMemo();
  const configs = createEndpointConfigs();
  const plain = (c: Map<string, { fingerprint: string; resources: readonly unknown[] }>) =>
    [...c].map(([k, v]) => [k, v.fingerprint, v.resources]);
  const first = translateIngress(snapshot, options, check, memo);
  t.deepEqual(plain(configs(first)), plain(endpointConfigs(first)));
  const [head, ...rest] = snapshot.endpoints;
  if (!head?.spec) return t.fail("the fixture has endpoints");
  const changed = create(EndpointSchema, {
    ...head,
    spec: { ...head.spec, paths: [...head.spec.paths, "/added"] },
  });
  const second = translateIngress({ ...snapshot, endpoints: [changed, ...rest] }, options, check, memo);
  const kept = configs(second);
  t.deepEqual(plain(kept), plain(endpointConfigs(second)));
  const key = `${head.meta?.org || "default"}/${head.meta?.name}`;
  const before = configs(first);
  for (const [endpoint, config] of kept) {
    if (endpoint === key)
      t.not<string | undefined, string | undefined>(config.fingerprint, before.get(endpoint)?.fingerprint);
    else
      t.is<string | undefined, string | undefined>(
        config.fingerprint,
        before.get(endpoint)?.fingerprint,
        endpoint,
      );
  }
});
