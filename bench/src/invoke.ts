/**
 * Warm invoke: a blocking run through the API (a Connect client in this process calling
 * `dispatch up`, a separate process, through RunService.Create; the run record is
 * acknowledged by JetStream before it answers) beside a direct HTTP call to the same
 * worker's /invoke, at concurrency 1 and 32.
 *
 * A third row is the floor of the protocol stack: a Connect call that does nothing
 * (SystemService.GetVersion) through the same client to the same control plane. What
 * exec costs above that row is Dispatch's own work: the call to the worker and the run
 * record. Each row also shows the CPU each process spent per call (from /proc).
 *
 *   npm run build && node bench/dist/src/invoke.js [calls=2000]
 *
 * Targets (issue 3): p50 ≤ 1.25× direct; throughput at concurrency 32 ≥ 0.7× direct.
 */
import { Agent, request } from "node:http";
import { cpuPerCall, sampleCpu } from "./cpu.js";
import { clients, createFunction, execOnce, isReady, waitFor } from "./dispatch.js";
import { startDispatchProcess } from "./process.js";
import { format, type Summary, summarize } from "./stats.js";

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

interface Result {
  summary: Summary;
  rate: number;
  cpu: string;
}

/** Runs `total` calls with `concurrency` in flight: latencies, calls per second, CPU per call. */
async function load(concurrency: number, total: number, call: () => Promise<void>): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const cpuBefore = sampleCpu();
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
  return {
    summary: summarize(latencies),
    rate: total / seconds,
    cpu: cpuPerCall(cpuBefore, sampleCpu(), total),
  };
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
  const paths = {
    direct: () => direct(worker, body),
    noop: async () => {
      await api.system.getVersion({});
    },
    exec: () => execOnce(api.runs, "warm", { name: "x" }),
  };
  // Warm every path up first.
  for (const call of Object.values(paths)) await load(8, 300, call);

  console.log(`warm invoke (${calls} calls each; worker ${worker})`);
  for (const concurrency of [1, 32]) {
    const d = await load(concurrency, calls, paths.direct);
    const n = await load(concurrency, calls, paths.noop);
    const e = await load(concurrency, calls, paths.exec);
    const row = (label: string, r: Result) => {
      console.log(`    ${label.padEnd(34)}${format(r.summary)}  ${r.rate.toFixed(0)}/s`);
      console.log(`    ${"".padEnd(34)}CPU per call: ${r.cpu}`);
    };
    const ratios = (label: string, a: Result, b: Result) =>
      console.log(
        `    ${label.padEnd(34)}p50 ${(a.summary.p50 / b.summary.p50).toFixed(2)}x   throughput ${(a.rate / b.rate).toFixed(2)}x`,
      );
    console.log(`  concurrency ${concurrency}`);
    row("direct HTTP to the worker:", d);
    row("no-op Connect call (GetVersion):", n);
    row("dispatch exec (Connect):", e);
    ratios("exec / direct (the target):", e, d);
    ratios("no-op Connect / direct:", n, d);
    ratios("exec / no-op Connect:", e, n);
  }
  console.log("  targets: p50 <= 1.25x direct; throughput at concurrency 32 >= 0.7x direct");
} finally {
  agent.destroy();
  await dispatch.stop();
}
