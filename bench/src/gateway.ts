/**
 * The embedded gateway against a standard Node reverse proxy, in front of the
 * same warm upstream, at concurrency 1 and 64:
 *
 * - direct: the upstream called as it is (the floor);
 * - gateway: `@dispatch/gateway`, programmed by a real xds-server (this
 *   process, `startXdsServer`, Delta ADS with a node token) with an endpoint
 *   whose route takes a bearer token (`auth: token`) and has a local rate limit
 *   (1,000,000 per second: it never triggers);
 * - gateway, plain route: the same gateway, another endpoint of the same
 *   function with neither (what the gateway's routing and proxying cost alone);
 * - http-proxy: `http-proxy` from npm on `node:http`, keep-alive to the
 *   upstream, no auth or limits (what a plain Node proxy does).
 *
 * The upstream is a plain `node:http` server answering JSON
 * (`json-upstream.ts`), not a Dispatch worker, so the comparison is of the
 * proxies alone. Every process is separate (this one drives the calls), and
 * each row shows the CPU each process spent per call. Calls go in rounds
 * that take turns between the paths (`compare.ts`), over loopback only.
 *
 *   npm run build && node bench/dist/src/gateway.js [calls=4000]
 *
 * BENCH_CONCURRENCY=1 (or 64) measures one concurrency only.
 * BENCH_PROFILE=DIR writes CPU profiles of both proxies there
 * (`node bench/dist/src/cpu-profile-top.js FILE gateway/` lists the hot spots).
 * BENCH_ACCESS_LOG=1 keeps the gateway's access log (on by default in `dispatch up`).
 * BENCH_V8_DEFAULTS=1 runs both proxies with V8's default collector settings
 * instead of those `dispatch up` runs the gateway with (`proxy-process.ts`).
 * BENCH_NODE_FLAGS="--flag …" passes node flags to every helper process.
 *
 * Targets: gateway p50 ≤ http-proxy's, gateway throughput ≥ http-proxy's.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { EndpointSchema, FunctionSchema, Phase } from "@dispatch/proto";
import { startXdsServer } from "@dispatch/xds-server";
import { compare, type Result } from "./compare.js";
import { benchNodeFlags } from "./process.js";
import { format } from "./stats.js";

const calls = Number(process.argv[2] ?? 4000);
/** How long a helper process may take to start before the bench gives up. */
const startBoundMs = 60_000;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const endpointToken = randomBytes(32).toString("base64url");
const nodeToken = randomBytes(32).toString("base64url");

/** Forks a helper of this bench and waits for its first message. */
async function forkHelper<M>(script: string, args: string[]): Promise<{ child: ChildProcess; message: M }> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
    execArgv: benchNodeFlags(),
    stdio: "inherit",
  });
  let timer: NodeJS.Timeout | undefined;
  const message = await new Promise<M>((resolve, reject) => {
    child.once("message", (m) => resolve(m as M));
    child.once("exit", (code) => reject(new Error(`${script} ${args[0] ?? ""} exited (${code})`)));
    timer = setTimeout(
      () => reject(new Error(`${script} did not start within ${startBoundMs} ms`)),
      startBoundMs,
    );
  }).finally(() => clearTimeout(timer));
  return { child, message };
}

/** Ends a helper (it exits on its own once disconnected, writing its profile if asked). */
async function stopHelper(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.disconnect();
  await gone;
}

const body = Buffer.from(JSON.stringify({ name: "x" }));

/** One call: POST the JSON body, read the whole answer, require `status`. */
function call(url: string, token: string | null = endpointToken, status = 200): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": body.length,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        res.resume();
        res.once("end", () =>
          res.statusCode === status ? resolve() : reject(new Error(`${url}: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}

/** Calls `url` until it answers 200 (the gateway's config may still be on its way). */
async function untilServed(url: string): Promise<void> {
  const deadline = Date.now() + startBoundMs;
  for (;;) {
    try {
      await call(url);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const helpers: ChildProcess[] = [];
const upstream = await forkHelper<{ port: number }>("./json-upstream.js", []);
helpers.push(upstream.child);
const upstreamUrl = `http://127.0.0.1:${upstream.message.port}`;
const xds = await startXdsServer({
  translation: { activator: { host: "127.0.0.1", port: 9 }, listener: { host: "127.0.0.1" } },
  authenticate: (metadata) => metadata.get("authorization")[0] === `Bearer ${nodeToken}`,
});
try {
  const { problems } = xds.update({
    endpoints: [
      create(EndpointSchema, {
        meta: { name: "plain", org: "default" },
        spec: { function: "hello", paths: ["/plain"] },
      }),
      create(EndpointSchema, {
        meta: { name: "hello", org: "default" },
        spec: {
          function: "hello",
          paths: ["/hello"],
          auth: { mode: { case: "token", value: { secret: "bench-tokens" } } },
          rateLimit: { requests: 1_000_000, per: { seconds: 1n } },
        },
      }),
    ],
    functions: [
      create(FunctionSchema, {
        meta: { name: "hello", org: "default" },
        spec: { runtime: "nodejs" },
        status: { phase: Phase.READY, endpoints: [upstreamUrl], readyInstances: 1 },
      }),
    ],
    tokens: (org, secret) => (org === "default" && secret === "bench-tokens" ? [endpointToken] : undefined),
  });
  if (problems.length > 0) throw new Error(`the endpoint has problems: ${problems[0]?.message}`);
  const gateway = await forkHelper<{ url: string }>("./proxy-process.js", [
    "gateway",
    xds.address,
    nodeToken,
  ]);
  helpers.push(gateway.child);
  const standard = await forkHelper<{ url: string }>("./proxy-process.js", ["http-proxy", upstreamUrl]);
  helpers.push(standard.child);

  const urls = {
    direct: `${upstreamUrl}/hello`,
    gateway: `${gateway.message.url}/hello`,
    "gateway-plain": `${gateway.message.url}/plain`,
    "http-proxy": `${standard.message.url}/hello`,
  };
  for (const url of Object.values(urls)) await untilServed(url);
  // The auth route is really in place: no token or another one is refused.
  await call(urls.gateway, null, 401);
  await call(urls.gateway, "another-token", 401);
  const paths = {
    direct: () => call(urls.direct),
    gateway: () => call(urls.gateway),
    "gateway-plain": () => call(urls["gateway-plain"]),
    "http-proxy": () => call(urls["http-proxy"]),
  };
  // Warm every path up first.
  await compare(8, 300 * 4, paths, 3);

  console.log(
    `gateway vs a standard Node reverse proxy (${calls} calls each per concurrency; loopback; upstream: a plain node:http server answering JSON, not a Dispatch worker)`,
  );
  console.log(
    `  gateway: route with token auth (bearer) + local rate limit 1,000,000/s (never triggers); plain: a route with neither; access log ${process.env.BENCH_ACCESS_LOG === "1" ? "on" : "off"}`,
  );
  console.log("  http-proxy (npm): keep-alive agent to the upstream, no auth, no limit");
  console.log(
    `  both proxies: ${process.env.BENCH_V8_DEFAULTS === "1" ? "V8's default collector settings" : "the collector settings dispatch up runs the gateway with (allocation-site pretenuring off; decision 0010)"}`,
  );
  const verdicts: string[] = [];
  const concurrencies = (process.env.BENCH_CONCURRENCY ?? "1,64").split(",").map(Number);
  for (const concurrency of concurrencies) {
    const r = await compare(concurrency, calls, paths);
    const row = (label: string, result: Result) => {
      console.log(`    ${label.padEnd(16)}${format(result.summary)}  ${result.rate.toFixed(0)}/s`);
      console.log(`    ${"".padEnd(16)}CPU per call: ${result.cpu}`);
    };
    console.log(`  concurrency ${concurrency}`);
    row("direct:", r.direct);
    row("gateway:", r.gateway);
    row("gateway plain:", r["gateway-plain"]);
    row("http-proxy:", r["http-proxy"]);
    const g = r.gateway;
    const h = r["http-proxy"];
    const d = r.direct;
    const p = r["gateway-plain"];
    const ratios = (label: string, a: Result, b: Result, proxyCpu?: [number, number]) => {
      const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}x`;
      const cpu = proxyCpu
        ? `  proxy CPU per call ${ratio(...proxyCpu)} (${proxyCpu[0].toFixed(0)} / ${proxyCpu[1].toFixed(0)} µs)`
        : "";
      console.log(
        `    ${label.padEnd(28)}p50 ${ratio(a.summary.p50, b.summary.p50)}  p99 ${ratio(a.summary.p99, b.summary.p99)}  throughput ${ratio(a.rate, b.rate)}${cpu}`,
      );
    };
    const proxyCpu = (result: Result, process: string) => result.cpuUsByProcess.get(process) ?? 0;
    ratios("gateway / http-proxy:", g, h, [proxyCpu(g, "gateway"), proxyCpu(h, "http-proxy")]);
    ratios("gateway plain / http-proxy:", p, h, [proxyCpu(p, "gateway"), proxyCpu(h, "http-proxy")]);
    ratios("gateway / direct:", g, d);
    ratios("http-proxy / direct:", h, d);
    const p50ok = g.summary.p50 <= h.summary.p50;
    const rateOk = g.rate >= h.rate;
    verdicts.push(
      `concurrency ${concurrency}: gateway p50 ≤ http-proxy's: ${g.summary.p50.toFixed(2)} vs ${h.summary.p50.toFixed(2)} ms ${p50ok ? "met" : "MISSED"}; throughput ≥ http-proxy's: ${g.rate.toFixed(0)} vs ${h.rate.toFixed(0)}/s ${rateOk ? "met" : "MISSED"}`,
    );
  }
  console.log("  targets:");
  for (const verdict of verdicts) console.log(`    ${verdict}`);
} finally {
  agent.destroy();
  for (const child of helpers.reverse()) await stopHelper(child);
  await xds.close();
}
