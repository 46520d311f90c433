/**
 * Warm invoke: a blocking run through the API (a Connect client in this process calling
 * `dispatch up`, a separate process, through RunService.Create; the run record is
 * acknowledged by JetStream before it answers) beside the parts it is made of, each
 * measured alone in the same run, at concurrency 1 and 32:
 *
 * - a Connect call that does nothing (SystemService.GetVersion) through the same client to
 *   the same control plane: the floor of the protocol stack;
 * - a direct HTTP call to a worker's /invoke with the same handler (a worker this bench
 *   starts itself, as the driver does, so it knows the instance credential);
 * - one JetStream publish, acknowledged, of a message the size of the run record, to a
 *   stream configured as RUNS on the same nats-server.
 *
 * exec cannot cost less than those three in a row; what it costs above their sum is the
 * invoker's own work. Each row also shows the CPU each process spent per call (from /proc).
 *
 *   npm run build && node bench/dist/src/invoke.js [calls=2000]
 *
 * BENCH_CONCURRENCY=1 (or 32) measures one concurrency only.
 *
 * Targets (issue 8): exec p50 ≤ 1.1× the sum of the parts' p50 (concurrency 1); exec
 * throughput at concurrency 32 ≥ 0.6× the no-op Connect call's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson, toBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Phase, RunSchema } from "@dispatch/proto";
import { WORKER_TOKEN_HEADER, workerCommand } from "@dispatch/runtimes";
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { compare, type Result } from "./compare.js";
import { clients, createFunction, execOnce, isReady, waitFor } from "./dispatch.js";
import { startDispatchProcess } from "./process.js";
import { format } from "./stats.js";

const calls = Number(process.argv[2] ?? 2000);
const handler = "export default async (context, payload) => ({ hello: payload.name });\n";
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** A Node worker of `handler`, started as the local driver starts one (without the sandbox). */
async function startWorker(): Promise<{ url: string; token: string; process: ChildProcess }> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-bench-worker-"));
  await writeFile(join(dir, "hello.js"), handler);
  const token = randomBytes(32).toString("base64url");
  const { command, args } = workerCommand("nodejs");
  const child = spawn(command, args, {
    env: {
      PATH: process.env.PATH,
      DISPATCH_HOST: "127.0.0.1",
      DISPATCH_PORT: "0",
      DISPATCH_FUNCTION_DIR: dir,
      DISPATCH_HANDLER: "hello.js",
      DISPATCH_FUNCTION: "direct",
      DISPATCH_WORKER_TOKEN: token,
    },
    cwd: dir,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /DISPATCH_READY (\{.*\})/.exec(out);
      if (match?.[1]) resolve((JSON.parse(match[1]) as { port: number }).port);
    });
    child.once("exit", (code) => reject(new Error(`the worker exited (${code})`)));
  });
  child.stdout?.resume();
  return { url: `http://127.0.0.1:${port}`, token, process: child };
}

function direct(url: string, token: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/invoke`,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": body.length,
          [WORKER_TOKEN_HEADER]: token,
        },
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

const dispatch = await startDispatchProcess();
const worker = await startWorker();
const nc = await connect(dispatch.nats.connectOptions);
try {
  const api = clients(dispatch.url, dispatch.token);
  await createFunction(api, "warm", "hello.js", handler, { min: 1 });
  await waitFor(api.functions, "warm", (f) => isReady(f) && f.status?.endpoints.length === 1);
  const body = Buffer.from(
    JSON.stringify({
      payload: { name: "x" },
      context: { secrets: {}, deadline: null, function: "warm", runId: randomUUID() },
    }),
  );
  // A stream as RUNS is (file storage, one message per subject), on the same server,
  // and a message the size of this call's run record.
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "BENCH",
    subjects: ["bench.>"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: 1,
  });
  const js = jetstream(nc);
  const { run } = await api.runs.create({
    run: { spec: { function: "warm", input: fromJson(ValueSchema, { name: "x" }) } },
  });
  if (run?.status?.phase !== Phase.READY) throw new Error("exec failed");
  const record = toBinary(RunSchema, run);

  const paths = {
    direct: () => direct(worker.url, worker.token, body),
    noop: async () => {
      await api.system.getVersion({});
    },
    publish: async () => {
      await js.publish(`bench.default.warm.${randomUUID()}`, record);
    },
    exec: () => execOnce(api.runs, "warm", { name: "x" }),
  };
  // Warm every path up first.
  await compare(8, 300 * 4, paths, 4);

  console.log(`warm invoke (${calls} calls each; run record ${record.length} bytes)`);
  const verdicts: string[] = [];
  const concurrencies = (process.env.BENCH_CONCURRENCY ?? "1,32").split(",").map(Number);
  for (const concurrency of concurrencies) {
    const { direct: d, noop: n, publish: p, exec: e } = await compare(concurrency, calls, paths);
    const row = (label: string, r: Result) => {
      console.log(`    ${label.padEnd(38)}${format(r.summary)}  ${r.rate.toFixed(0)}/s`);
      console.log(`    ${"".padEnd(38)}CPU per call: ${r.cpu}`);
    };
    console.log(`  concurrency ${concurrency}`);
    row("direct HTTP to a worker:", d);
    row("no-op Connect call (GetVersion):", n);
    row("JetStream publish, acked:", p);
    row("dispatch exec (RunService.Create):", e);
    const sum = d.summary.p50 + n.summary.p50 + p.summary.p50;
    const p50Ratio = e.summary.p50 / sum;
    const rateRatio = e.rate / n.rate;
    console.log(`    ${"sum of the parts' p50:".padEnd(38)}${sum.toFixed(2)} ms`);
    console.log(`    ${"exec p50 / sum of the parts:".padEnd(38)}${p50Ratio.toFixed(2)}x`);
    console.log(`    ${"exec throughput / no-op Connect:".padEnd(38)}${rateRatio.toFixed(2)}x`);
    // On a machine others are loading, measured throughput follows how the scheduler
    // shares the cores (a path spread over more processes gets more of them); the CPU a
    // call costs in all processes is what bounds it when the cores are Dispatch's.
    const cpuRatio = n.cpuUs / e.cpuUs;
    console.log(
      `    ${"same, from CPU per call (all procs):".padEnd(38)}${cpuRatio.toFixed(2)}x  (${n.cpuUs.toFixed(0)} / ${e.cpuUs.toFixed(0)} µs)`,
    );
    console.log(
      `    ${"exec p50 / direct (issue 3):".padEnd(38)}${(e.summary.p50 / d.summary.p50).toFixed(2)}x`,
    );
    if (concurrency === 1) {
      verdicts.push(
        `exec p50 <= 1.1x the sum of the parts: ${p50Ratio.toFixed(2)}x ${p50Ratio <= 1.1 ? "met" : "MISSED"}`,
      );
    } else {
      verdicts.push(
        `exec throughput at concurrency 32 >= 0.6x the no-op Connect call's: measured ${rateRatio.toFixed(2)}x ${rateRatio >= 0.6 ? "met" : "MISSED"}; from CPU per call ${cpuRatio.toFixed(2)}x ${cpuRatio >= 0.6 ? "met" : "MISSED"}`,
      );
    }
  }
  console.log("  targets (issue 8):");
  for (const verdict of verdicts) console.log(`    ${verdict}`);
} finally {
  agent.destroy();
  await nc.close();
  worker.process.kill("SIGTERM");
  await dispatch.stop();
}
