import { create } from "@bufbuild/protobuf";
import {
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  HealthStatus,
} from "@dispatch/proto/envoy";
import test from "ava";
import { ConfigError } from "../../src/route-table/config-error.js";
import { compileLoadAssignment, pickEndpoint } from "../../src/route-table/endpoints.js";
import { compiler, edsCluster, staticCluster } from "../support/envoy.js";

const at = (host: string, port: number, extra: object = {}) => ({
  hostIdentifier: {
    case: "endpoint" as const,
    value: {
      address: {
        address: {
          case: "socketAddress" as const,
          value: { address: host, portSpecifier: { case: "portValue" as const, value: port } },
        },
      },
    },
  },
  ...extra,
});

test("endpoints: the highest priority with a usable host wins; unhealthy and draining hosts are left out", (t) => {
  const set = compileLoadAssignment(
    create(ClusterLoadAssignmentSchema, {
      clusterName: "c",
      endpoints: [
        { priority: 1, lbEndpoints: [at("10.0.0.9", 80)] },
        {
          priority: 0,
          lbEndpoints: [
            at("10.0.0.1", 80, { healthStatus: HealthStatus.UNHEALTHY }),
            at("10.0.0.2", 80, { healthStatus: HealthStatus.DRAINING }),
            at("10.0.0.3", 80, { healthStatus: HealthStatus.HEALTHY }),
            at("10.0.0.4", 80),
          ],
        },
      ],
    }),
  );
  t.deepEqual(
    set.endpoints.map((e) => e.key),
    ["10.0.0.3:80", "10.0.0.4:80"],
  );
  const failover = compileLoadAssignment(
    create(ClusterLoadAssignmentSchema, {
      clusterName: "c",
      endpoints: [
        { priority: 0, lbEndpoints: [at("10.0.0.1", 80, { healthStatus: HealthStatus.UNHEALTHY })] },
        { priority: 1, lbEndpoints: [at("10.0.0.9", 80)] },
      ],
    }),
  );
  t.deepEqual(
    failover.endpoints.map((e) => e.key),
    ["10.0.0.9:80"],
  );
});

test("endpoints: weighted round robin gives each host its share in every cycle", (t) => {
  const set = compileLoadAssignment(
    create(ClusterLoadAssignmentSchema, {
      clusterName: "c",
      endpoints: [
        { lbEndpoints: [at("a", 1, { loadBalancingWeight: 3 }), at("b", 1, { loadBalancingWeight: 1 })] },
      ],
    }),
  );
  const state = { counter: 0, current: [] };
  const picks = Array.from(
    { length: 8 },
    () => pickEndpoint(set, "round-robin", state, Math.random, () => 0)?.address,
  );
  t.is(picks.filter((p) => p === "a").length, 6);
  t.is(picks.filter((p) => p === "b").length, 2);
  t.notDeepEqual(picks.slice(0, 4), ["a", "a", "a", "b"], "smooth: b is not starved to the end of a cycle");
});

test("endpoints: least-request prefers the host with fewer calls in flight", (t) => {
  const set = compileLoadAssignment(
    create(ClusterLoadAssignmentSchema, {
      clusterName: "c",
      endpoints: [{ lbEndpoints: [at("busy", 1), at("idle", 1)] }],
    }),
  );
  const draws = [0, 0.9];
  let i = 0;
  const random = () => draws[i++ % 2] as number;
  const picked = pickEndpoint(set, "least-request", { counter: 0, current: [] }, random, (e) =>
    e.address === "busy" ? 5 : 0,
  );
  t.is(picked?.address, "idle");
});

test("clusters: EDS names its load assignment, STATIC carries its hosts, others are refused", (t) => {
  t.is(compiler.cluster(edsCluster("fn")).edsServiceName, "fn");
  t.is(
    compiler.cluster(
      edsCluster("fn", {
        edsClusterConfig: {
          serviceName: "fn-v2",
          edsConfig: { configSourceSpecifier: { case: "ads", value: {} } },
        },
      }),
    ).edsServiceName,
    "fn-v2",
  );
  const fixed = compiler.cluster(staticCluster("jwks", [["127.0.0.1", 9000]]));
  t.deepEqual(
    fixed.inlineEndpoints?.endpoints.map((e) => e.key),
    ["127.0.0.1:9000"],
  );
  t.is(
    compiler.cluster(edsCluster("fn", { lbPolicy: Cluster_LbPolicy.LEAST_REQUEST })).lbPolicy,
    "least-request",
  );
  const error = t.throws(
    () =>
      compiler.cluster(
        create(ClusterSchema, {
          name: "o",
          clusterDiscoveryType: { case: "type", value: Cluster_DiscoveryType.ORIGINAL_DST },
        }),
      ),
    { instanceOf: ConfigError },
  );
  t.regex(error.message, /cluster type 4 is not supported/);
});
