/**
 * Warm invoke: a blocking run through the API (a Connect client in this process calling
 * `dispatch up`, a separate process, through
 * RunService.Create; the run record is written before it answers) beside a
 * direct HTTP call to the same worker's /invoke, at concurrency 1 and 32.
 *
 *   npm run build && node bench/dist/src/invoke.js [calls=2000]
 *
 * Targets (issue 3): p50 ≤ 1.25× direct; throughput at concurrency 32 ≥ 0.7× direct.
 */
import { Agent, request } from "node:http";
import { clients, createFunction, execOnce, isReady, waitFor } from "./dispatch.js";
import { startDispatchProcess } from "./process.js";
import { format, summarize } from "./stats.js";

const calls = Number(process.argv[2] ?? 2000);
const handler = "export default async (context, payload) => ({ hello: payload.name });\n";
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function direct(url: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/invoke`,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length },
      },
      (res) => {
        res.resume();
        res.once("end", () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.once("error", reject);
    req.end(body);
  });
}

/** Runs `total` calls with `concurrency` in flight; latencies and calls per second. */
async function load(concurrency: number, total: number, call: () => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t0 = performance.now();
        await call();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { summary: summarize(latencies), rate: total / seconds };
}

const dispatch = await startDispatchProcess();
try {
  const api = clients(dispatch.url, dispatch.token);
  await createFunction(api, "warm", "hello.js", handler, { min: 1 });
  const fn = await waitFor(api.functions, "warm", (f) => isReady(f) && f.status?.endpoints.length === 1);
  const worker = fn.status?.endpoints[0] ?? "";
  const body = Buffer.from(
    JSON.stringify({
      payload: { name: "x" },
      context: { secrets: {}, deadline: null, function: "warm", runId: "bench" },
    }),
  );
  const viaApi = () => execOnce(api.runs, "warm", { name: "x" });
  const viaWorker = () => direct(worker, body);
  // Warm both paths up first.
  await load(8, 300, viaApi);
  await load(8, 300, viaWorker);

  console.log(`warm invoke (${calls} calls each; worker ${worker})`);
  for (const concurrency of [1, 32]) {
    const d = await load(concurrency, calls, viaWorker);
    const a = await load(concurrency, calls, viaApi);
    console.log(`  concurrency ${concurrency}`);
    console.log(`    direct HTTP to the worker: ${format(d.summary)}  ${d.rate.toFixed(0)}/s`);
    console.log(`    dispatch exec (Connect):   ${format(a.summary)}  ${a.rate.toFixed(0)}/s`);
    console.log(
      `    ratio p50 ${(a.summary.p50 / d.summary.p50).toFixed(2)}x   throughput ${(a.rate / d.rate).toFixed(2)}x of direct`,
    );
  }
  console.log("  targets: p50 <= 1.25x direct; throughput at concurrency 32 >= 0.7x direct");
} finally {
  agent.destroy();
  await dispatch.stop();
}
