/**
 * Cold start: a function at zero instances → its first answer (a blocking
 * exec through the API), over many wakes, beside a bare `node` start that
 * imports the same handler and calls it, measured in the same run.
 *
 *   npm run build && node bench/dist/src/cold-start.js [wakes=50]
 *
 * Targets (issue 3): p95 ≤ 150 ms and ≤ 1.5× the bare start.
 */
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clients, createNodeFunction, execOnce, isReady, waitFor } from "./dispatch.js";
import { startDispatchProcess } from "./process.js";
import { format, summarize } from "./stats.js";

const wakes = Number(process.argv[2] ?? 50);
const handler = "export default async (context, payload) => ({ hello: payload.name });\n";

/** `node` starts, imports the handler, calls it once, prints, exits: the floor for a cold start. */
async function bareStart(file: string): Promise<number> {
  const script = `const m = await import(${JSON.stringify(file)}); const out = await m.default({}, { name: "x" }); process.stdout.write(JSON.stringify(out));`;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.stdout.once("data", () => resolve());
    child.once("error", reject);
  });
  return performance.now() - started;
}

const dir = await mkdtemp(join(tmpdir(), "dispatch-bench-"));
const file = join(dir, "hello.js");
await writeFile(file, handler);

const dispatch = await startDispatchProcess();
try {
  const api = clients(dispatch.url, dispatch.token);
  await createNodeFunction(api, "cold", "hello.js", handler, { idleTimeoutMs: 50 });
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
  console.log(`cold start: zero instances -> first answer (${wakes} wakes)`);
  console.log(`  dispatch exec from zero:        ${format(a)}`);
  console.log(`  bare node start + import + call: ${format(b)}`);
  console.log(
    `  ratio p50 ${(a.p50 / b.p50).toFixed(2)}x  p95 ${(a.p95 / b.p95).toFixed(2)}x   (targets: p95 <= 150 ms, <= 1.5x)`,
  );
} finally {
  await dispatch.stop();
}
