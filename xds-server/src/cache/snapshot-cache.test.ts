import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import test from "ava";
import { cluster, endpoints, listener, routes } from "../../test/support/resources.js";
import { createSnapshotCache } from "./snapshot-cache.js";

test("cache: a resource unchanged between snapshots keeps its encoded object; a changed one gets a new version", (t) => {
  const cache = createSnapshotCache();
  cache.set([cluster("a"), endpoints("a", [1])]);
  const a = cache.resource(CLUSTER_TYPE_URL, "a");
  const ea = cache.resource(ENDPOINT_TYPE_URL, "a");
  const change = cache.set([cluster("a"), endpoints("a", [2])]);
  t.is(cache.resource(CLUSTER_TYPE_URL, "a"), a, "same object, same bytes");
  t.not(cache.resource(ENDPOINT_TYPE_URL, "a")?.version, ea?.version);
  t.deepEqual([...change], [[ENDPOINT_TYPE_URL, { upserted: ["a"], removed: [] }]]);
});

test("cache: removals are reported, and a set that changes nothing notifies no one", (t) => {
  const cache = createSnapshotCache();
  const seen: string[] = [];
  cache.subscribe((change) => seen.push([...change.keys()].join(",")));
  cache.set([cluster("a"), cluster("b")]);
  const generation = cache.generation;
  t.is(cache.set([cluster("a"), cluster("b")]).size, 0);
  t.is(cache.generation, generation);
  const change = cache.set([cluster("a")]);
  t.deepEqual(change.get(CLUSTER_TYPE_URL), { upserted: [], removed: ["b"] });
  t.deepEqual(seen, [CLUSTER_TYPE_URL, CLUSTER_TYPE_URL]);
});

test("cache: two resources of one type with one name are refused, and nothing changes", (t) => {
  const cache = createSnapshotCache();
  cache.set([cluster("a")]);
  t.throws(() => cache.set([cluster("b"), cluster("b")]), { message: /named "b"/ });
  t.deepEqual([...cache.get(CLUSTER_TYPE_URL).keys()], ["a"]);
});

test("cache: references are read from the resources themselves", (t) => {
  const cache = createSnapshotCache();
  cache.set([listener("l", "r"), routes("r", { a: 1, b: 2 }), cluster("a")]);
  t.deepEqual(cache.resource(LISTENER_TYPE_URL, "l")?.references, [{ typeUrl: ROUTE_TYPE_URL, name: "r" }]);
  t.deepEqual(cache.resource(ROUTE_TYPE_URL, "r")?.references, [
    { typeUrl: CLUSTER_TYPE_URL, name: "a" },
    { typeUrl: CLUSTER_TYPE_URL, name: "b" },
  ]);
  t.deepEqual(cache.resource(CLUSTER_TYPE_URL, "a")?.references, [{ typeUrl: ENDPOINT_TYPE_URL, name: "a" }]);
});
