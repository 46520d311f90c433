/**
 * A reverse proxy of the gateway bench, in a process of its own (so that its
 * CPU is counted apart, and a profile of it holds nothing else):
 *
 *   proxy-process.js gateway ADS_ADDRESS NODE_TOKEN   the embedded gateway (`@dispatch/gateway`),
 *                                                     programmed by the xds-server at ADS_ADDRESS
 *   proxy-process.js http-proxy UPSTREAM_URL          `http-proxy` from npm, keep-alive to the upstream
 *
 * Both run with the collector settings `dispatch up` runs the gateway with
 * (`tuneCollectorForProxying`, decision 0010), so that the proxies differ in
 * their code alone; BENCH_V8_DEFAULTS=1 leaves V8's defaults to both.
 *
 * Forked: sends `{url}` to its parent once it serves; ends (exiting normally,
 * so that `--cpu-prof` writes its profile) when the parent disconnects.
 */
import { Agent, createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tuneCollectorForProxying } from "@dispatch/server-kit";

const [mode, target, token] = process.argv.slice(2);
let stop: () => Promise<void>;
if (process.env.BENCH_V8_DEFAULTS !== "1") tuneCollectorForProxying();

// Each mode loads only its own proxy.
if (mode === "gateway" && target) {
  const { startGateway } = await import("@dispatch/gateway");
  const gateway = await startGateway({
    ads: { address: target, nodeId: "bench-gateway", ...(token ? { token } : {}) },
    listen: { port: 0 },
    // http-proxy writes no access log; BENCH_ACCESS_LOG=1 keeps the gateway's (as `dispatch up` does).
    ...(process.env.BENCH_ACCESS_LOG === "1" ? {} : { accessLog: false as const }),
  });
  await gateway.ready();
  process.send?.({ url: gateway.url });
  stop = () => gateway.close(1000);
} else if (mode === "http-proxy" && target) {
  const { default: httpProxy } = await import("http-proxy");
  // Keep-alive to the upstream, as the gateway's pools do (http-proxy's default is a
  // new connection per request); as many sockets as the gateway's default circuit breaker.
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });
  proxy.on("error", (_err, _req, res) => {
    if ("writeHead" in res && !res.headersSent) {
      res.writeHead(502, { "content-type": "application/json" });
      res.end('{"error":"upstream failed"}');
    }
  });
  const server: Server = createServer((req, res) => proxy.web(req, res));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.send?.({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    agent.destroy();
  };
} else {
  throw new Error("usage: proxy-process.js gateway ADS_ADDRESS [NODE_TOKEN] | http-proxy UPSTREAM_URL");
}

process.on("disconnect", () => {
  void stop().finally(() => process.exit(0));
});
