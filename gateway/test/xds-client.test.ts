import {
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import test from "ava";
import { startAdsResponder } from "./support/ads-responder.js";
import { edsCluster, listener, loadAssignment, prefixRoute, rds, routeConfig } from "./support/envoy.js";
import { serve, snapshotWhere, startTestGateway } from "./support/gateway.js";
import { call, startUpstream } from "./support/http.js";

const routesTo = (cluster: string, extra: Record<string, unknown> = {}) =>
  routeConfig({
    name: "routes",
    virtualHosts: [{ name: "all", domains: ["*"], routes: [prefixRoute("/", cluster, extra)] }],
  });

test("Delta ADS: a wildcard listener subscription with the node, ACKs by nonce, and named subscriptions down the references", async (t) => {
  const upstream = await startUpstream("fn");
  const ads = await startAdsResponder();
  serve(ads, {
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [routesTo("fn")],
    clusters: [edsCluster("fn")],
    endpoints: [loadAssignment("fn", [["127.0.0.1", upstream.port]])],
  });
  const { gateway } = await startTestGateway(ads);
  t.teardown(async () => {
    await gateway.close(0);
    await ads.close();
    await upstream.close();
  });
  await gateway.ready();

  const first = ads.requests[0];
  t.is(first?.node?.id, "test-gateway");
  t.is(first?.typeUrl, LISTENER_TYPE_URL);
  t.deepEqual(first?.resourceNamesSubscribe, ["*"]);
  for (const [typeUrl, name] of [
    [ROUTE_TYPE_URL, "routes"],
    [CLUSTER_TYPE_URL, "fn"],
    [ENDPOINT_TYPE_URL, "fn"],
  ] as const) {
    const subscribe = await ads.waitFor((r) => r.typeUrl === typeUrl && r.resourceNamesSubscribe.length > 0);
    t.deepEqual(subscribe.resourceNamesSubscribe, [name], `${typeUrl} by name`);
    t.is(subscribe.node, undefined, "the node goes on the first request only");
  }
  for (const typeUrl of [LISTENER_TYPE_URL, ROUTE_TYPE_URL, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL]) {
    const ack = await ads.waitFor((r) => r.typeUrl === typeUrl && r.responseNonce !== "");
    t.is(ack.errorDetail, undefined, `${typeUrl} ACKed`);
  }
  const answer = await call(`${gateway.url}/hello`);
  t.is(answer.status, 200);
  t.is(JSON.parse(answer.body).upstream, "fn");
});

test("Delta ADS: a config the gateway cannot apply is NACKed with the reason, and the last good one keeps serving", async (t) => {
  const upstream = await startUpstream("fn");
  const ads = await startAdsResponder();
  serve(ads, {
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [routesTo("fn")],
    clusters: [edsCluster("fn")],
    endpoints: [loadAssignment("fn", [["127.0.0.1", upstream.port]])],
  });
  const { gateway } = await startTestGateway(ads);
  t.teardown(async () => {
    await gateway.close(0);
    await ads.close();
    await upstream.close();
  });
  const good = await gateway.ready();

  const mark = ads.requests.length;
  serve(ads, {
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            routes: [
              {
                match: { pathSpecifier: { case: "safeRegex", value: { regex: "/items/(\\d+" } } },
                action: { case: "directResponse", value: { status: 200 } },
              },
            ],
          },
        ],
      }),
    ],
  });
  const nack = await ads.waitFor((r) => r.typeUrl === ROUTE_TYPE_URL && r.errorDetail !== undefined, mark);
  t.is(nack.errorDetail?.code, 3);
  t.regex(
    nack.errorDetail?.message ?? "",
    /^RouteConfiguration "routes": virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: ".*" is not a valid RE2 regex/,
  );
  t.is(gateway.snapshot(), good, "the snapshot did not change");
  const answer = await call(`${gateway.url}/items/7`);
  t.is(answer.status, 200);
  t.is(JSON.parse(answer.body).upstream, "fn", "still routed by the last accepted config");

  const fixed = ads.requests.length;
  serve(ads, {
    routes: [routesTo("fn", { requestHeadersToAdd: [{ header: { key: "x-config", value: "v2" } }] })],
  });
  const ack = await ads.waitFor((r) => r.typeUrl === ROUTE_TYPE_URL && r.responseNonce !== "", fixed);
  t.is(ack.errorDetail, undefined);
  await snapshotWhere(gateway, (s) => s.generation > good.generation);
  t.is(JSON.parse((await call(`${gateway.url}/x`)).body).headers["x-config"], "v2");
});

test("Delta ADS: a broken stream is opened again with initial_resource_versions, and serving never stops", async (t) => {
  const blue = await startUpstream("blue");
  const green = await startUpstream("green");
  let ads = await startAdsResponder();
  const port = Number(ads.address.split(":")[1]);
  const config = {
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [routesTo("blue")],
    clusters: [edsCluster("blue"), edsCluster("green")],
    endpoints: [
      loadAssignment("blue", [["127.0.0.1", blue.port]]),
      loadAssignment("green", [["127.0.0.1", green.port]]),
    ],
  };
  serve(ads, config);
  const { gateway } = await startTestGateway(ads);
  t.teardown(async () => {
    await gateway.close(0);
    await ads.close();
    await blue.close();
    await green.close();
  });
  const before = await gateway.ready();
  const held = {
    listener: ads.requests.find((r) => r.typeUrl === LISTENER_TYPE_URL)?.initialResourceVersions,
  };
  t.deepEqual(held.listener, {}, "a first stream holds nothing");

  const disconnected = new Promise<void>((resolve) => {
    const stop = gateway.onEvent((e) => {
      if (e.kind === "disconnected") {
        stop();
        resolve();
      }
    });
  });
  await ads.close();
  await disconnected;
  t.is(
    JSON.parse((await call(`${gateway.url}/during-outage`)).body).upstream,
    "blue",
    "the last config serves while the server is away",
  );

  ads = await startAdsResponder(port);
  serve(ads, { ...config, routes: [routesTo("green")] });
  const reopened = await ads.waitFor(
    (r) => r.typeUrl === LISTENER_TYPE_URL && r.resourceNamesSubscribe.includes("*"),
  );
  t.is(reopened.node?.id, "test-gateway");
  t.deepEqual(
    Object.keys(reopened.initialResourceVersions),
    ["http"],
    "the listener it holds, with its version",
  );
  const routeRequest = await ads.waitFor(
    (r) => r.typeUrl === ROUTE_TYPE_URL && r.resourceNamesSubscribe.length > 0,
  );
  t.deepEqual(routeRequest.resourceNamesSubscribe, ["routes"]);
  t.deepEqual(Object.keys(routeRequest.initialResourceVersions), ["routes"]);
  await snapshotWhere(gateway, (s) => s.generation > before.generation);
  t.is(JSON.parse((await call(`${gateway.url}/after`)).body).upstream, "green");
});

test("Delta ADS: a named resource the server says does not exist is absent: no route configuration, a JSON 404", async (t) => {
  const ads = await startAdsResponder();
  serve(ads, { listeners: [listener("http", { routeSpecifier: rds("missing") })] });
  const { gateway, logEntry } = await startTestGateway(ads);
  t.teardown(async () => {
    await gateway.close(0);
    await ads.close();
  });
  const snapshot = await gateway.ready();
  t.is(snapshot.routeTables.size, 0);
  const answer = await call(`${gateway.url}/anything`);
  t.is(answer.status, 404);
  t.is(answer.headers["content-type"], "application/json");
  t.deepEqual(JSON.parse(answer.body), {
    error: { type: "InputError", message: "no route matches this request" },
  });
  t.is((await logEntry((e) => e.path === "/anything")).flags, "NR");
});

test("Delta ADS: before any config the gateway answers a JSON 503", async (t) => {
  const ads = await startAdsResponder();
  const { gateway } = await startTestGateway(ads);
  t.teardown(async () => {
    await gateway.close(0);
    await ads.close();
  });
  const answer = await call(`${gateway.url}/`);
  t.is(answer.status, 503);
  t.regex(JSON.parse(answer.body).error.message, /not received its configuration yet/);
});
