#!/usr/bin/env node
// A stand-in for the `envoy` binary in tests (no Envoy can be installed on the
// test machines): it takes Envoy's flags, reads the bootstrap `dispatch up
// --gateway envoy` wrote, and serves with Dispatch's embedded gateway
// connected exactly as the bootstrap says (node id, the xds cluster's address,
// the node token in the ADS stream's initial metadata). What it proves is that
// the bootstrap carries everything an xDS client needs, and that `dispatch up`
// spawns, waits for and stops its data plane; Envoy's own behaviour is not
// tested here. It listens on $STANDIN_PORT (Envoy would bind the Listener's
// address from xDS).
import { readFileSync } from "node:fs";
import { startGateway } from "@dispatch/gateway";

const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
};
const configPath = flag("--config-path");
if (!configPath) {
  process.stderr.write("--config-path is required\n");
  process.exit(1);
}
const bootstrap = JSON.parse(readFileSync(configPath, "utf8"));
const ads = bootstrap.dynamic_resources.ads_config;
if (ads.api_type !== "DELTA_GRPC") throw new Error(`api_type ${ads.api_type}`);
const clusterName = ads.grpc_services[0].envoy_grpc.cluster_name;
const cluster = bootstrap.static_resources.clusters.find((c) => c.name === clusterName);
const address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
const auth = (ads.grpc_services[0].initial_metadata ?? []).find((m) => m.key === "authorization");
const token = auth?.value.replace(/^Bearer /, "");
const gateway = await startGateway({
  ads: { address: `${address.address}:${address.port_value}`, nodeId: bootstrap.node.id, token },
  listen: { host: "127.0.0.1", port: Number(process.env.STANDIN_PORT) },
  accessLog: false,
});
if (!bootstrap.admin.address.pipe) throw new Error("the admin must be on a Unix socket");
process.stdout.write(`stand-in envoy serving at ${gateway.url}\n`);
process.once("SIGTERM", async () => {
  await gateway.close(1_000);
  process.exit(0);
});
