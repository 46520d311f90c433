import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import test from "ava";
import type { ClientInfo, NackEvent } from "../server/session-types.js";
import { createRolloutTracker, type EndpointConfig, type ResourceKey } from "./rollout-tracker.js";

// The resources of a small ingress: one listener and one route configuration
// shared by every endpoint, and a cluster and load assignment per function.
const listener = "dispatch-http";
const routes = "dispatch-routes";
const shared: ResourceKey[] = [
  { typeUrl: LISTENER_TYPE_URL, name: listener },
  { typeUrl: ROUTE_TYPE_URL, name: routes },
];
const functionResources = (fn: string): ResourceKey[] => [
  { typeUrl: CLUSTER_TYPE_URL, name: `function/o/${fn}` },
  { typeUrl: ENDPOINT_TYPE_URL, name: `function/o/${fn}` },
];

const X = "o/x";
const Y = "o/y";
const xConfig = (fingerprint: string): EndpointConfig => ({
  fingerprint,
  resources: [...shared, ...functionResources("fx")],
});
const yConfig = (fingerprint: string): EndpointConfig => ({
  fingerprint,
  resources: [...shared, ...functionResources("fy")],
});

/** Per type URL, name → version. */
type State = Record<string, Record<string, string>>;

const toMaps = (state: State) =>
  new Map(Object.entries(state).map(([typeUrl, byName]) => [typeUrl, new Map(Object.entries(byName))]));

/** A served state: the shared listener and routes, and the given functions' cluster and load assignment. */
const state = (route: string, functions: Record<string, string> = {}): State => {
  const out: State = {
    [LISTENER_TYPE_URL]: { [listener]: "l1" },
    [ROUTE_TYPE_URL]: { [routes]: route },
    [CLUSTER_TYPE_URL]: {},
    [ENDPOINT_TYPE_URL]: {},
  };
  for (const [fn, version] of Object.entries(functions)) {
    const cds = out[CLUSTER_TYPE_URL];
    const eds = out[ENDPOINT_TYPE_URL];
    if (cds) cds[`function/o/${fn}`] = `c-${version}`;
    if (eds) eds[`function/o/${fn}`] = `e-${version}`;
  }
  return out;
};

const client = (id: string, acked: State, protocol: "sotw" | "delta" = "delta"): ClientInfo => ({
  node: { id, cluster: "gateway", userAgent: "envoy" },
  protocol,
  acked: toMaps(acked),
});

/** As the ingress controller decides: a data plane is a client that ACKed the HTTP listener. */
const isDataPlane = (c: ClientInfo) => c.acked.get(LISTENER_TYPE_URL)?.has(listener) ?? false;

const nack = (
  node: string,
  typeUrl: string,
  resources: { name: string; version: string }[],
  message = "route: invalid regex",
): NackEvent => ({
  node: { id: node, cluster: "gateway", userAgent: "envoy" },
  protocol: "delta",
  typeUrl,
  nonce: "n1",
  resources,
  removed: [],
  code: 3,
  message,
});

const serve = (
  tracker: ReturnType<typeof createRolloutTracker>,
  served: State,
  endpoints: Record<string, EndpointConfig>,
) => tracker.served(toMaps(served), new Map(Object.entries(endpoints)));

test("rollout: served, then every data plane ACKs the current versions: applied, naming the proxies", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fx: "1" });
  serve(tracker, s1, { [X]: xConfig("x1") });
  t.deepEqual(tracker.rollout(X, [client("p2", s1), client("p1", s1, "sotw")]), {
    state: "applied",
    proxies: ["p1", "p2"],
  });
  t.deepEqual(
    tracker.rollout(X, [client("p1", s1)]),
    { state: "applied", proxies: ["p1"] },
    "asking again gives the same answer",
  );
});

test("rollout: a data plane that has not ACKed what carries the endpoint is pending, and named", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fy: "1" });
  serve(tracker, s1, { [Y]: yConfig("y1") });
  // X is added: the shared route configuration changes, and X's function brings its cluster.
  const s2 = state("r2", { fy: "1", fx: "1" });
  serve(tracker, s2, { [Y]: yConfig("y1"), [X]: xConfig("x1") });

  const old = client("old", s1);
  const current = client("current", s2);
  t.deepEqual(tracker.rollout(X, [old, current]), {
    state: "pending",
    proxies: ["current", "old"],
    pending: ["old"],
  });
  t.deepEqual(tracker.rollout(Y, [old, current]), { state: "applied", proxies: ["current", "old"] });

  // The new route configuration but not X's cluster yet (held back until it is answered, say).
  const partial = client("partial", { ...s2, [CLUSTER_TYPE_URL]: s1[CLUSTER_TYPE_URL] ?? {} });
  t.deepEqual(tracker.rollout(X, [partial, current]), {
    state: "pending",
    proxies: ["current", "partial"],
    pending: ["partial"],
  });

  // A version the tracker never served counts as not applied.
  const stranger = client("stranger", { ...s2, [ROUTE_TYPE_URL]: { [routes]: "from-another-server" } });
  t.deepEqual(tracker.rollout(Y, [stranger]), {
    state: "pending",
    proxies: ["stranger"],
    pending: ["stranger"],
  });
});

test("rollout: an endpoint's own change makes a data plane still at the older version pending again", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fx: "1" });
  serve(tracker, s1, { [X]: xConfig("x1") });
  const p1 = client("p1", s1);
  t.is(tracker.rollout(X, [p1])?.state, "applied");
  serve(tracker, state("r2", { fx: "1" }), { [X]: xConfig("x2") });
  t.deepEqual(tracker.rollout(X, [p1]), { state: "pending", proxies: ["p1"], pending: ["p1"] });
  t.deepEqual(tracker.rollout(X, [client("p1", state("r2", { fx: "1" }))]), {
    state: "applied",
    proxies: ["p1"],
  });
});

test("rollout: another endpoint's later change (a newer shared RouteConfiguration) leaves an applied endpoint applied", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fx: "1", fy: "1" });
  serve(tracker, s1, { [X]: xConfig("x1"), [Y]: yConfig("y1") });
  // Y changes twice; X does not.
  const s2 = state("r2", { fx: "1", fy: "2" });
  serve(tracker, s2, { [X]: xConfig("x1"), [Y]: yConfig("y2") });
  const s3 = state("r3", { fx: "1", fy: "3" });
  serve(tracker, s3, { [X]: xConfig("x1"), [Y]: yConfig("y3") });

  const first = client("first", s1);
  const middle = client("middle", s2);
  const newest = client("newest", s3);
  t.deepEqual(
    tracker.rollout(X, [first, middle, newest]),
    { state: "applied", proxies: ["first", "middle", "newest"] },
    "the version that first carried X, and every later one, carry it as it is",
  );
  t.deepEqual(tracker.rollout(Y, [first, middle, newest]), {
    state: "pending",
    proxies: ["first", "middle", "newest"],
    pending: ["first", "middle"],
  });
});

test("rollout: a load assignment changing alone (a function scaled) does not make its endpoint pending", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fx: "1" });
  serve(tracker, s1, { [X]: xConfig("x1") });
  const s2: State = { ...s1, [ENDPOINT_TYPE_URL]: { "function/o/fx": "e-scaled" } };
  serve(tracker, s2, { [X]: xConfig("x1") });
  t.deepEqual(tracker.rollout(X, [client("p1", s1), client("p2", s2)]), {
    state: "applied",
    proxies: ["p1", "p2"],
  });
});

test("rollout: content returning to an earlier version (A → B → A) needs that version, not the one in between", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const a = state("rA", { fx: "1", fy: "1" });
  const b = state("rB", { fx: "1", fy: "1" });
  const atA = client("at-a", a);
  const atB = client("at-b", b);

  serve(tracker, a, { [X]: xConfig("x-a"), [Y]: yConfig("y1") });
  t.is(tracker.rollout(X, [atA])?.state, "applied");

  serve(tracker, b, { [X]: xConfig("x-b"), [Y]: yConfig("y1") });
  t.deepEqual(tracker.rollout(X, [atA, atB]), {
    state: "pending",
    proxies: ["at-a", "at-b"],
    pending: ["at-a"],
  });

  // X goes back to what it was: the route configuration is A again.
  serve(tracker, a, { [X]: xConfig("x-a"), [Y]: yConfig("y1") });
  t.deepEqual(
    tracker.rollout(X, [atA, atB]),
    { state: "pending", proxies: ["at-a", "at-b"], pending: ["at-b"] },
    "B carries X's change that was undone",
  );
  t.deepEqual(tracker.rollout(X, [atA]), { state: "applied", proxies: ["at-a"] });
  t.deepEqual(
    tracker.rollout(Y, [atA, atB]),
    { state: "applied", proxies: ["at-a", "at-b"] },
    "Y, unchanged throughout, is carried by A and by B",
  );
});

test("rollout: a client that is not a data plane is ignored; with none connected, no-data-plane", (t) => {
  const seen: string[] = [];
  const tracker = createRolloutTracker((c) => {
    seen.push(c.node.id);
    return isDataPlane(c);
  });
  const s1 = state("r1", { fx: "1" });
  serve(tracker, s1, { [X]: xConfig("x1") });
  // A gRPC client reads clusters only (an old one at that): it never holds the HTTP listener.
  const grpc = client("grpc", { [CLUSTER_TYPE_URL]: { "function/o/fx": "c-0" } });
  const proxy = client("proxy", s1);

  t.deepEqual(tracker.rollout(X, [grpc, proxy]), { state: "applied", proxies: ["proxy"] });
  t.true(seen.includes("grpc"), "the predicate decides about every client");
  t.deepEqual(tracker.rollout(X, [grpc]), { state: "no-data-plane" });
  t.deepEqual(tracker.rollout(X, []), { state: "no-data-plane" });
  // A client that subscribed but has ACKed nothing yet is no data plane either.
  t.deepEqual(tracker.rollout(X, [client("connecting", {})]), { state: "no-data-plane" });
});

test("rollout: a NACK of the version X introduced blames X only, and X's rollout is rejected with the proxy and its message", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fy: "1" });
  serve(tracker, s1, { [Y]: yConfig("y1") });
  const s2 = state("r2", { fy: "1", fx: "1" });
  serve(tracker, s2, { [Y]: yConfig("y1"), [X]: xConfig("x1") });

  const blamed = tracker.rejected(
    nack("p1", ROUTE_TYPE_URL, [{ name: routes, version: "r2" }], "invalid regex in route"),
  );
  t.deepEqual(blamed, [X], "Y's configuration predates the refused version");

  const p1 = client("p1", s1); // it keeps what it had
  t.deepEqual(tracker.rollout(X, [p1]), {
    state: "rejected",
    proxy: "p1",
    message: "invalid regex in route",
  });
  t.deepEqual(tracker.rollout(Y, [p1]), { state: "applied", proxies: ["p1"] });

  // Another proxy applied it, but p1 still refuses: X stays rejected.
  const p2 = client("p2", s2);
  t.deepEqual(tracker.rollout(X, [p1, p2]), {
    state: "rejected",
    proxy: "p1",
    message: "invalid regex in route",
  });

  // Another endpoint's change does not clear X's refusal: X's part is unchanged.
  const s3 = state("r3", { fy: "2", fx: "1" });
  serve(tracker, s3, { [Y]: yConfig("y2"), [X]: xConfig("x1") });
  t.is(tracker.rollout(X, [p1])?.state, "rejected");
});

test("rollout: a change of X's configuration clears its refusal: it waits for the proxies again", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fy: "1" });
  serve(tracker, s1, { [Y]: yConfig("y1") });
  serve(tracker, state("r2", { fy: "1", fx: "1" }), { [Y]: yConfig("y1"), [X]: xConfig("x1") });
  tracker.rejected(nack("p1", ROUTE_TYPE_URL, [{ name: routes, version: "r2" }]));
  const p1 = client("p1", s1);
  t.is(tracker.rollout(X, [p1])?.state, "rejected");

  const s3 = state("r3", { fy: "1", fx: "1" });
  serve(tracker, s3, { [Y]: yConfig("y1"), [X]: xConfig("x1-fixed") });
  t.deepEqual(tracker.rollout(X, [p1]), { state: "pending", proxies: ["p1"], pending: ["p1"] });
  t.deepEqual(tracker.rollout(X, [client("p1", s3)]), { state: "applied", proxies: ["p1"] });
});

test("rollout: once every data plane applied the endpoint, an earlier refusal is forgotten", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fy: "1" });
  serve(tracker, s1, { [Y]: yConfig("y1") });
  const s2 = state("r2", { fy: "1", fx: "1" });
  serve(tracker, s2, { [Y]: yConfig("y1"), [X]: xConfig("x1") });
  tracker.rejected(nack("p1", ROUTE_TYPE_URL, [{ name: routes, version: "r2" }]));
  t.is(tracker.rollout(X, [client("p1", s1)])?.state, "rejected");
  // p1 applied it after all (restarted with what it needed, say).
  t.deepEqual(tracker.rollout(X, [client("p1", s2)]), { state: "applied", proxies: ["p1"] });
  // A new proxy still at the old version is just pending now.
  t.deepEqual(tracker.rollout(X, [client("p1", s2), client("p3", s1)]), {
    state: "pending",
    proxies: ["p1", "p3"],
    pending: ["p3"],
  });
});

test("rollout: a NACK of a version no endpoint's change introduced blames every endpoint the resource carries", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fx: "1", fy: "1" });
  serve(tracker, s1, { [X]: xConfig("x1"), [Y]: yConfig("y1") });
  // fx scales: only its load assignment changes, no endpoint's configuration does.
  const s2: State = { ...s1, [ENDPOINT_TYPE_URL]: { "function/o/fx": "e-2", "function/o/fy": "e-1" } };
  serve(tracker, s2, { [X]: xConfig("x1"), [Y]: yConfig("y1") });
  t.deepEqual(tracker.rejected(nack("p1", ENDPOINT_TYPE_URL, [{ name: "function/o/fx", version: "e-2" }])), [
    X,
  ]);
  // A version the tracker does not know: no change to blame, so whoever the resource carries.
  t.deepEqual(tracker.rejected(nack("p1", ROUTE_TYPE_URL, [{ name: routes, version: "unknown" }])), [X, Y]);
  t.deepEqual(tracker.rejected(nack("p1", ROUTE_TYPE_URL, [{ name: "not-ours", version: "r1" }])), []);
  // p1 still holds what carries both as they are: they stay applied.
  const p1 = client("p1", s1);
  t.deepEqual(tracker.rollout(X, [p1]), { state: "applied", proxies: ["p1"] });
  t.deepEqual(tracker.rollout(Y, [p1]), { state: "applied", proxies: ["p1"] });
});

test("rollout: a SotW NACK lists every cluster of the type; an endpoint whose cluster the proxy already holds stays applied", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s1 = state("r1", { fy: "1" });
  serve(tracker, s1, { [Y]: yConfig("y1") });
  serve(tracker, state("r2", { fy: "1", fx: "1" }), { [Y]: yConfig("y1"), [X]: xConfig("x1") });
  const blamed = tracker.rejected({
    ...nack("p1", CLUSTER_TYPE_URL, [
      { name: "function/o/fy", version: "c-1" },
      { name: "function/o/fx", version: "c-1" },
    ]),
    protocol: "sotw",
  });
  t.true(blamed.includes(X));
  const p1 = client("p1", s1, "sotw");
  t.deepEqual(tracker.rollout(X, [p1]), { state: "rejected", proxy: "p1", message: "route: invalid regex" });
  t.deepEqual(tracker.rollout(Y, [p1]), { state: "applied", proxies: ["p1"] });
});

test("rollout: an endpoint no longer served is undefined, and its refusal goes with it", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  t.is(tracker.rollout(X, []), undefined, "never served");
  const s1 = state("r1", { fy: "1" });
  serve(tracker, s1, { [Y]: yConfig("y1") });
  const s2 = state("r2", { fy: "1", fx: "1" });
  serve(tracker, s2, { [Y]: yConfig("y1"), [X]: xConfig("x1") });
  tracker.rejected(nack("p1", ROUTE_TYPE_URL, [{ name: routes, version: "r2" }]));
  const p1 = client("p1", s1);

  serve(tracker, s1, { [Y]: yConfig("y1") });
  t.is(tracker.rollout(X, [p1]), undefined);
  t.deepEqual(tracker.rollout(Y, [p1]), { state: "applied", proxies: ["p1"] });

  // Served again as it was: it waits for p1, refused no more.
  serve(tracker, s2, { [Y]: yConfig("y1"), [X]: xConfig("x1") });
  t.deepEqual(tracker.rollout(X, [p1]), { state: "pending", proxies: ["p1"], pending: ["p1"] });
});

test("rollout: a version many changes old counts as not applied", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const s0 = state("r0", { fx: "1", fy: "1" });
  serve(tracker, s0, { [X]: xConfig("x1"), [Y]: yConfig("y0") });
  const p1 = client("p1", s0);
  // Y changes again and again; X does not.
  for (let i = 1; i <= 10; i++)
    serve(tracker, state(`r${i}`, { fx: "1", fy: "1" }), { [X]: xConfig("x1"), [Y]: yConfig(`y${i}`) });
  t.is(tracker.rollout(X, [p1])?.state, "applied", "a few versions back is remembered");
  for (let i = 11; i <= 200; i++)
    serve(tracker, state(`r${i}`, { fx: "1", fy: "1" }), { [X]: xConfig("x1"), [Y]: yConfig(`y${i}`) });
  t.deepEqual(tracker.rollout(X, [p1]), { state: "pending", proxies: ["p1"], pending: ["p1"] });
  t.is(tracker.rollout(X, [client("p2", state("r200", { fx: "1", fy: "1" }))])?.state, "applied");
});

test("rollout: a version that became current again counts as recent, not as many changes old", (t) => {
  const tracker = createRolloutTracker(isDataPlane);
  const served = (i: number, y: string) =>
    serve(tracker, state(`r${i}`, { fx: "1", fy: "1" }), { [X]: xConfig("x1"), [Y]: yConfig(y) });
  served(0, "y0");
  // Y changes 50 times, goes back to what it was (the route configuration is r0 again), then changes 50
  // times more: more versions than are remembered, r0 among the latest of them.
  for (let i = 1; i <= 50; i++) served(i, `y${i}`);
  served(0, "y0");
  for (let i = 51; i <= 100; i++) served(i, `y${i}`);
  const atR0 = client("p1", state("r0", { fx: "1", fy: "1" }));
  t.deepEqual(tracker.rollout(X, [atR0]), { state: "applied", proxies: ["p1"] });
  t.deepEqual(
    tracker.rollout(X, [client("p2", state("r1", { fx: "1", fy: "1" }))]),
    { state: "pending", proxies: ["p2"], pending: ["p2"] },
    "r1 was current long before: forgotten",
  );
});
