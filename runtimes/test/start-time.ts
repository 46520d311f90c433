/**
 * Prints how long each worker takes from spawn to its `DISPATCH_READY` line
 * (median of 20 starts, run one after another), beside the bare interpreter
 * starting and exiting, measured the same way in the same run.
 *
 *   npx tsc -b runtimes && node runtimes/dist/test/start-time.js [starts]
 */

import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import type { Runtime } from "../src/index.js";
import { launch, writeBundle } from "./worker-process.js";

const starts = Number(process.argv[2] ?? 20);

const bundles: Record<Runtime, [Record<string, string>, string]> = {
  nodejs: [{ "hello.mjs": "export default (context, payload) => payload;\n" }, "hello.mjs"],
  python3: [{ "hello.py": "def handle(context, payload):\n    return payload\n" }, "hello.handle"],
};

async function timeToReady(runtime: Runtime, dir: string, handler: string): Promise<number> {
  const started = performance.now();
  const worker = await launch({ runtime, dir, handler });
  await worker.ready;
  const elapsed = performance.now() - started;
  await worker.stop();
  return elapsed;
}

async function timeToExit(command: string, args: string[]): Promise<number> {
  const started = performance.now();
  await new Promise((resolve, reject) =>
    spawn(command, args, { stdio: "ignore" }).once("exit", resolve).once("error", reject),
  );
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const baselines: Record<Runtime, [string, string[]]> = {
  nodejs: [process.execPath, ["-e", "0"]],
  python3: [process.env.DISPATCH_PYTHON || "python3", ["-c", "pass"]],
};

for (const runtime of ["nodejs", "python3"] as const) {
  const [files, handler] = bundles[runtime];
  const dir = await writeBundle(files);
  const ready: number[] = [];
  const bare: number[] = [];
  await timeToReady(runtime, dir, handler); // warm the file cache
  for (let i = 0; i < starts; i++) {
    ready.push(await timeToReady(runtime, dir, handler));
    bare.push(await timeToExit(...baselines[runtime]));
  }
  await rm(dir, { recursive: true, force: true });
  const worker = median(ready);
  const baseline = median(bare);
  console.log(
    `${runtime.padEnd(8)} start-to-ready median ${worker.toFixed(1)} ms (min ${Math.min(...ready).toFixed(1)}, max ${Math.max(...ready).toFixed(1)}, n=${starts}); ` +
      `bare interpreter ${baseline.toFixed(1)} ms; ratio ${(worker / baseline).toFixed(2)}`,
  );
}
