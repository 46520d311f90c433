import test from "ava";
import {
  applyResponse,
  type ClientState,
  type CompileResource,
  followReferences,
  heldVersions,
  initialState,
  isWarm,
  markAbsent,
} from "../../src/xds-client/resource-state.js";
import {
  compiler,
  edsCluster,
  listener,
  loadAssignment,
  prefixRoute,
  rds,
  routeConfig,
} from "../support/envoy.js";

const compile: CompileResource = (kind, message) => compiler[kind](message as never);
const routesTo = (name: string, cluster: string) =>
  routeConfig({ name, virtualHosts: [{ name: "all", domains: ["*"], routes: [prefixRoute("/", cluster)] }] });

function apply(
  state: ClientState,
  kind: Parameters<typeof applyResponse>[1],
  resources: { name: string; version: string; message: unknown }[],
  removed: string[] = [],
) {
  const result = applyResponse(state, kind, resources, removed, compile);
  if (!result.ok) throw new Error(result.error);
  return followReferences(result.state);
}

test("xDS state: listeners lead to routes, routes to clusters, EDS clusters to load assignments; warm only when all answered", (t) => {
  let state = initialState();
  t.false(isWarm(state), "nothing received yet");
  let step = apply(state, "listener", [
    { name: "http", version: "1", message: listener("http", { routeSpecifier: rds("routes") }) },
  ]);
  state = step.state;
  t.deepEqual(step.changes, { route: { subscribe: ["routes"], unsubscribe: [] } });
  t.false(isWarm(state), "the route configuration has not come yet");
  step = apply(state, "route", [{ name: "routes", version: "1", message: routesTo("routes", "fn") }]);
  state = step.state;
  t.deepEqual(step.changes, { cluster: { subscribe: ["fn"], unsubscribe: [] } });
  step = apply(state, "cluster", [{ name: "fn", version: "1", message: edsCluster("fn") }]);
  state = step.state;
  t.deepEqual(step.changes, { endpoint: { subscribe: ["fn"], unsubscribe: [] } });
  t.false(isWarm(state));
  step = apply(state, "endpoint", [
    { name: "fn", version: "1", message: loadAssignment("fn", [["127.0.0.1", 9000]]) },
  ]);
  state = step.state;
  t.deepEqual(step.changes, {});
  t.true(isWarm(state));
  t.deepEqual(heldVersions(state, "cluster"), { fn: "1" });
});

test("xDS state: a response with one bad resource is refused whole, naming it, and the state stays", (t) => {
  let state = apply(initialState(), "listener", [
    { name: "http", version: "1", message: listener("http", { routeSpecifier: rds("routes") }) },
  ]).state;
  state = apply(state, "route", [{ name: "routes", version: "1", message: routesTo("routes", "fn") }]).state;
  const broken = routeConfig({
    name: "routes",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          {
            match: { pathSpecifier: { case: "safeRegex", value: { regex: "([" } } },
            action: { case: "directResponse", value: { status: 200 } },
          },
        ],
      },
    ],
  });
  const result = applyResponse(
    state,
    "route",
    [{ name: "routes", version: "2", message: broken }],
    [],
    compile,
  );
  t.false(result.ok);
  if (!result.ok)
    t.regex(
      result.error,
      /^RouteConfiguration "routes": virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: "\(\[" is not a valid RE2 regex/,
    );
  t.is(state.route.resources.get("routes")?.version, "1");
  const mismatch = applyResponse(
    state,
    "route",
    [{ name: "routes", version: "3", message: routesTo("other", "fn") }],
    [],
    compile,
  );
  t.false(mismatch.ok);
  if (!mismatch.ok) t.regex(mismatch.error, /the resource inside is named "other"/);
  const undecodable = applyResponse(
    state,
    "route",
    [{ name: "routes", version: "4", message: undefined }],
    [],
    compile,
  );
  t.false(undecodable.ok);
});

test("xDS state: what is no longer referenced is unsubscribed and dropped, down the chain", (t) => {
  let state = apply(initialState(), "listener", [
    { name: "http", version: "1", message: listener("http", { routeSpecifier: rds("routes") }) },
  ]).state;
  state = apply(state, "route", [{ name: "routes", version: "1", message: routesTo("routes", "old") }]).state;
  state = apply(state, "cluster", [{ name: "old", version: "1", message: edsCluster("old") }]).state;
  state = apply(state, "endpoint", [
    { name: "old", version: "1", message: loadAssignment("old", [["127.0.0.1", 1]]) },
  ]).state;
  const step = apply(state, "route", [{ name: "routes", version: "2", message: routesTo("routes", "new") }]);
  t.deepEqual(step.changes, {
    cluster: { subscribe: ["new"], unsubscribe: ["old"] },
    endpoint: { subscribe: [], unsubscribe: ["old"] },
  });
  t.false(step.state.cluster.resources.has("old"));
  t.false(step.state.endpoint.resources.has("old"));
  t.false(isWarm(step.state), "the new cluster is awaited");
  const gone = apply(step.state, "cluster", [], ["new"]);
  t.true(isWarm(gone.state), "a cluster the server says does not exist is answered");
});

test("xDS state: a name never answered is taken as absent once its timer fires", (t) => {
  let state = apply(initialState(), "listener", [
    { name: "http", version: "1", message: listener("http", { routeSpecifier: rds("routes") }) },
  ]).state;
  t.false(isWarm(state));
  state = markAbsent(state, "route", "routes");
  t.true(isWarm(state));
  t.is(markAbsent(state, "route", "unknown"), state, "only subscribed names");
});
