import { fromBinary } from "@bufbuild/protobuf";
import {
  CLUSTER_TYPE_URL,
  ClusterLoadAssignmentSchema,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import test from "ava";
import { type AckEvent, startXdsServer } from "../src/index.js";
import { deltaNames, eventLog, openDelta } from "./support/ads-client.js";
import { readyFunction, snapshotOf } from "./support/snapshot.js";

// startXdsServer end to end: snapshots in, Envoy resources out over Delta ADS.

const endpoints = [
  { meta: { name: "hello", org: "default" }, spec: { function: "hello", paths: ["/hello"] } },
  { meta: { name: "broken", org: "default" }, spec: { function: "hello", paths: ["~(?=x)"] } },
];

test("xds-server: a snapshot is served; scaling a function to zero reaches the proxy as an EDS update alone", async (t) => {
  const acks = eventLog<AckEvent>();
  const xds = await startXdsServer({
    translation: { activator: { host: "10.0.0.100", port: 8081 } },
    onAck: (e) => acks.push(e),
  });
  t.teardown(() => xds.close());
  const first = xds.update(
    snapshotOf({ endpoints, functions: [readyFunction("hello", ["http://10.0.0.1:9000"])] }),
  );
  t.deepEqual(
    first.problems.map((p) => [p.endpoint, p.reason, p.served]),
    [["default/broken", "InvalidSpec", false]],
  );

  const s = openDelta(xds.address);
  t.teardown(() => s.close());
  const subscriptions: [string, string[]][] = [
    [CLUSTER_TYPE_URL, []],
    [ENDPOINT_TYPE_URL, ["function/default/hello"]],
    [LISTENER_TYPE_URL, []],
    [ROUTE_TYPE_URL, ["dispatch-http"]],
  ];
  for (const [typeUrl, names] of subscriptions) {
    s.send({ node: { id: "envoy" }, typeUrl, resourceNamesSubscribe: names });
    const r = await s.next();
    t.is(r.typeUrl, typeUrl);
    s.send({ typeUrl, responseNonce: r.nonce });
    await acks.next((e) => e.nonce === r.nonce);
  }

  const cold = xds.update(
    snapshotOf({
      endpoints,
      functions: [{ meta: { name: "hello", org: "default" }, status: { phase: "PHASE_READY" } }],
    }),
  );
  t.deepEqual([...cold.changed.keys()], [ENDPOINT_TYPE_URL], "only the load assignment changed");
  const update = await s.next();
  t.is(update.typeUrl, ENDPOINT_TYPE_URL);
  t.deepEqual(deltaNames(update), ["function/default/hello"]);
  const assignment = fromBinary(
    ClusterLoadAssignmentSchema,
    update.resources[0]?.resource?.value ?? new Uint8Array(),
  );
  const address = assignment.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
  t.like(address?.case === "endpoint" ? address.value.address?.address.value : undefined, {
    address: "10.0.0.100",
    portSpecifier: { case: "portValue", value: 8081 },
  });
});

test("xds-server: an update that changes nothing sends nothing and reports no change", async (t) => {
  const xds = await startXdsServer({ translation: { activator: { host: "127.0.0.1", port: 1 } } });
  t.teardown(() => xds.close());
  const snapshot = snapshotOf({ endpoints, functions: [readyFunction("hello", ["http://10.0.0.1:9000"])] });
  t.true(xds.update(snapshot).changed.size > 0);
  t.is(xds.update(snapshot).changed.size, 0);
});
