import * as http from "node:http";
import test from "ava";
import { edsCluster, listener, loadAssignment, prefixRoute, rds, routeConfig } from "./support/envoy.js";
import { serve, snapshotWhere, withGateway } from "./support/gateway.js";
import { call } from "./support/http.js";

/** The weighted route for the steady traffic, plus `others` unrelated routes. */
function routes(blue: number, green: number, others: number) {
  const extra = Array.from({ length: others }, (_, i) => prefixRoute(`/other-${i}`, "extra"));
  const clusters = [
    ...(blue > 0 ? [{ name: "blue", weight: blue }] : []),
    ...(green > 0 ? [{ name: "green", weight: green }] : []),
  ];
  return routeConfig({
    name: "routes",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          ...extra,
          {
            match: { pathSpecifier: { case: "prefix", value: "/steady" } },
            action: {
              case: "route",
              value: { clusterSpecifier: { case: "weightedClusters", value: { clusters } } },
            },
          },
        ],
      },
    ],
  });
}

test("config swaps under steady traffic: weight shifts, new and removed routes, clusters and endpoints, listener changes — zero failed requests", async (t) => {
  const { gateway, ads, upstreams, url } = await withGateway(t, ["blue", "green", "extra", "blue2"], (u) => ({
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [routes(100, 0, 0)],
    clusters: [edsCluster("blue"), edsCluster("green"), edsCluster("extra")],
    endpoints: [
      loadAssignment("blue", [["127.0.0.1", u.blue?.port ?? 0]]),
      loadAssignment("green", [["127.0.0.1", u.green?.port ?? 0]]),
      loadAssignment("extra", [["127.0.0.1", u.extra?.port ?? 0]]),
    ],
  }));
  const port = (name: string) => upstreams[name]?.port ?? 0;

  let done = false;
  let total = 0;
  const failures: string[] = [];
  const progressWaiters = new Set<() => void>();
  const worker = async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (!done) {
        try {
          const answer = await call(`${url}/steady`, { agent });
          if (answer.status !== 200) failures.push(`${answer.status} ${answer.body}`);
        } catch (error) {
          failures.push(String(error));
        }
        total++;
        for (const wake of [...progressWaiters]) wake();
      }
    } finally {
      agent.destroy();
    }
  };
  /** Resolves once `n` more requests have been answered. */
  const moreRequests = (n: number) => {
    const target = total + n;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (total < target) return;
        progressWaiters.delete(check);
        resolve();
      };
      progressWaiters.add(check);
      check();
    });
  };
  const workers = Array.from({ length: 4 }, worker);

  const changes: (() => void)[] = [];
  for (let step = 0; step < 6; step++) {
    const green = (step + 1) * 15;
    changes.push(() => serve(ads, { routes: [routes(100 - green, green, step % 3)] }));
    changes.push(() =>
      serve(ads, {
        endpoints: [
          loadAssignment(
            "blue",
            step % 2 === 0
              ? [
                  ["127.0.0.1", port("blue")],
                  ["127.0.0.1", port("blue2")],
                ]
              : [["127.0.0.1", port("blue2")]],
          ),
          loadAssignment("green", [["127.0.0.1", port("green")]]),
          loadAssignment("extra", [["127.0.0.1", port("extra")]]),
        ],
      }),
    );
    changes.push(() =>
      serve(ads, {
        listeners: [listener("http", { routeSpecifier: rds("routes"), useRemoteAddress: step % 2 === 0 })],
      }),
    );
  }
  changes.push(() => serve(ads, { routes: [routes(0, 100, 0)] }));
  changes.push(() => serve(ads, { routes: [routes(100, 0, 2)] }));

  for (const change of changes) {
    const before = gateway.snapshot().generation;
    change();
    await snapshotWhere(gateway, (s) => s.generation > before);
    await moreRequests(8);
  }
  done = true;
  await Promise.all(workers);

  t.deepEqual(failures, [], "no request failed while the config changed");
  t.true(total >= changes.length * 8);
  t.true((upstreams.green?.received.length ?? 0) > 0, "the canary took traffic");
  t.true((upstreams.blue2?.received.length ?? 0) > 0, "the new endpoint took traffic");
  t.is((await call(`${url}/other-1`)).status, 200, "the last routes serve");
});
