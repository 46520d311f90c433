import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  AggregatedDiscoveryService,
  CLUSTER_TYPE_URL,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
} from "@dispatch/proto/envoy";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import test from "ava";
import { startIngressHarness } from "./ingress-harness.js";

// A second data plane that refuses a configuration (a NACK), beside the
// embedded gateway of `dispatch up`: the endpoint whose change it refused
// says so in its status with the proxy's words, the other endpoints stay
// READY, and the gateway, which took the configuration, keeps serving both.

/** A raw Delta ADS client that ACKs what `accept` allows and NACKs the rest, with `reason`. */
function openProxy(
  address: string,
  token: string,
  nodeId: string,
  accept: (r: DeltaDiscoveryResponse) => boolean,
) {
  const client = new Client(address, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  type Request = MessageInitShape<typeof DeltaDiscoveryRequestSchema>;
  const call = client.makeBidiStreamRequest<Request, DeltaDiscoveryResponse>(
    `/${AggregatedDiscoveryService.typeName}/${AggregatedDiscoveryService.method.deltaAggregatedResources.name}`,
    (m) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, m))),
    (b) => fromBinary(DeltaDiscoveryResponseSchema, b),
    metadata,
  );
  const refused: DeltaDiscoveryResponse[] = [];
  call.on("error", () => {});
  call.on("data", (response: DeltaDiscoveryResponse) => {
    if (accept(response)) {
      call.write({ typeUrl: response.typeUrl, responseNonce: response.nonce });
    } else {
      refused.push(response);
      call.write({
        typeUrl: response.typeUrl,
        responseNonce: response.nonce,
        errorDetail: { code: 3, message: "test proxy: this route configuration is refused" },
      });
    }
  });
  const node = { id: nodeId, cluster: "test" };
  for (const typeUrl of [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL]) {
    call.write({ node, typeUrl, resourceNamesSubscribe: ["*"] });
  }
  return {
    refused,
    close() {
      call.cancel();
      client.close();
    },
  };
}

test("a NACK from one proxy: the refused endpoint is ERROR with the proxy's message, others stay READY and served", async (t) => {
  const h = await startIngressHarness("gateway-nack");
  t.teardown(() => h.stop());
  const { up, dir, dispatch } = h;
  const status = async (name: string) =>
    JSON.parse((await dispatch("get", "endpoint", name, "-o", "json")).stdout).status as {
      phase: string;
      conditions: { type: string; status: string; reason: string; message: string }[];
    };
  const programmed = (s: Awaited<ReturnType<typeof status>>) =>
    s.conditions.find((c) => c.type === "Programmed");

  const file = join(dir, "hi.js");
  await writeFile(file, 'export default async () => "hi";\n');
  t.is((await dispatch("create", "function", "hi", file, "--wait")).code, 0);
  t.is((await dispatch("create", "endpoint", "first", "hi", "--path", "/first", "--wait")).code, 0);

  // The test proxy takes everything it is sent now, and refuses every later route configuration.
  const token = (await readFile(join(dir, "data", "xds-node.token"), "utf8")).trim();
  let routesSeen = 0;
  const proxy = openProxy(up.ingress.controller.xds.address, token, "strict-proxy", (response) => {
    if (response.typeUrl !== ROUTE_TYPE_URL) return true;
    routesSeen++;
    return routesSeen === 1;
  });
  t.teardown(() => proxy.close());
  // Both data planes applied "first": READY names both.
  let first = await status("first");
  while (!/strict-proxy/.test(programmed(first)?.message ?? "") || first.phase !== "PHASE_READY") {
    first = await status("first");
  }
  t.regex(programmed(first)?.message ?? "", /2 proxies: dispatch-up-gateway, strict-proxy/);

  t.is((await dispatch("create", "endpoint", "second", "hi", "--path", "/second")).code, 0);
  let second = await status("second");
  while (second.phase !== "PHASE_ERROR") second = await status("second");
  t.is(programmed(second)?.reason, "RejectedByProxy");
  t.regex(programmed(second)?.message ?? "", /proxy "strict-proxy" refused the configuration/);
  t.regex(programmed(second)?.message ?? "", /test proxy: this route configuration is refused/);
  t.true(proxy.refused.length > 0);

  // The older endpoint is untouched, and the gateway, which took the new configuration, serves both.
  first = await status("first");
  t.is(first.phase, "PHASE_READY");
  for (const path of ["/first", "/second"]) {
    const res = await fetch(`${up.ingress.urls.gateway}${path}`);
    t.is(res.status, 200, path);
  }

  // Once the refusing proxy is gone, every connected data plane has it: READY.
  proxy.close();
  while (second.phase !== "PHASE_READY") second = await status("second");
  t.regex(programmed(second)?.message ?? "", /1 proxy: dispatch-up-gateway/);
});
