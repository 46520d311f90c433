/**
 * Cold start: a function at zero instances → its first answer (a blocking
 * exec through the API), over many wakes, beside a bare interpreter start
 * that imports the same handler and calls it, measured in the same run.
 *
 *   npm run build && node bench/dist/src/cold-start.js [wakes=50] [nodejs|python3]
 *
 * Targets (issue 3): p95 ≤ 150 ms and ≤ 1.5× the bare start.
 */
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { workerCommand } from "@dispatch/runtimes";
import { clients, createFunction, execOnce, isReady, waitFor } from "./dispatch.js";
import { startDispatchProcess } from "./process.js";
import { format, summarize } from "./stats.js";

const wakes = Number(process.argv[2] ?? 50);
const runtime = process.argv[3] === "python3" ? "python3" : "nodejs";
const handler =
  runtime === "python3"
    ? 'def handle(context, payload):\n    return {"hello": payload["name"]}\n'
    : "export default async (context, payload) => ({ hello: payload.name });\n";
const filename = runtime === "python3" ? "hello.py" : "hello.js";

/** The interpreter starts, imports the handler, calls it once, prints, exits: the floor for a cold start. */
async function bareStart(file: string): Promise<number> {
  const [command, args] =
    runtime === "python3"
      ? [
          workerCommand("python3").command,
          [
            "-c",
            `import sys, json; sys.path.insert(0, ${JSON.stringify(dir)}); import hello; print(json.dumps(hello.handle({}, {"name": "x"})), flush=True)`,
          ],
        ]
      : [
          process.execPath,
          [
            "--input-type=module",
            "-e",
            `const m = await import(${JSON.stringify(file)}); const out = await m.default({}, { name: "x" }); process.stdout.write(JSON.stringify(out));`,
          ],
        ];
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.once("data", () => resolve());
    child.once("error", reject);
  });
  return performance.now() - started;
}

const dir = await mkdtemp(join(tmpdir(), "dispatch-bench-"));
const file = join(dir, filename);
await writeFile(file, handler);

const dispatch = await startDispatchProcess();
try {
  const api = clients(dispatch.url, dispatch.token);
  await createFunction(api, "cold", filename, handler, { idleTimeoutMs: 50 });
  await waitFor(api.functions, "cold", isReady);

  const cold: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < wakes; i++) {
    await waitFor(api.functions, "cold", (fn) => fn.status?.readyInstances === 0);
    const started = performance.now();
    await execOnce(api.runs, "cold", { name: "x" });
    cold.push(performance.now() - started);
    bare.push(await bareStart(file));
  }
  const a = summarize(cold);
  const b = summarize(bare);
  console.log(`cold start (${runtime}): zero instances -> first answer (${wakes} wakes)`);
  console.log(`  dispatch exec from zero:        ${format(a)}`);
  console.log(`  bare ${runtime === "python3" ? "python3" : "node"} start + import + call: ${format(b)}`);
  console.log(
    `  ratio p50 ${(a.p50 / b.p50).toFixed(2)}x  p95 ${(a.p95 / b.p95).toFixed(2)}x   (targets: p95 <= 150 ms, <= 1.5x)`,
  );
} finally {
  await dispatch.stop();
}
