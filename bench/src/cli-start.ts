/**
 * CLI start: the whole `dispatch version --client` process (node's own start,
 * the CLI's modules, parsing, printing, exit) beside a bare `node` process
 * that only imports `@dispatch/client`, which every command needs, run in
 * turn (A B A B …) in the same run so a drifting machine moves both alike.
 *
 *   npm run build && node bench/dist/src/cli-start.js [runs=40]
 *
 * Target (issue 8): median ≤ 1.3× the bare import.
 */
import { spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { format, summarize } from "./stats.js";

const runs = Number(process.argv[2] ?? 40);
const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "cli", "bin", "dispatch.js");
// The CLI reads its config file; an empty home keeps the user's out of it.
const home = await mkdtemp(join(tmpdir(), "dispatch-bench-cli-"));
const env = { PATH: process.env.PATH, HOME: home, DISPATCH_CONFIG: join(home, "config.json") };

const commands = {
  cli: [bin, "version", "--client"],
  bare: ["--input-type=module", "-e", 'await import("@dispatch/client");'],
};

/** Milliseconds from spawn to exit of `node ARGS` (in the repository root, where workspaces resolve). */
async function time(args: string[]): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "ignore", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`node ${args.join(" ")} exited ${code}`)),
    );
  });
  return performance.now() - started;
}

// Warm the file cache (and JIT of this process) before counting.
for (let i = 0; i < 3; i++) {
  await time(commands.cli);
  await time(commands.bare);
}
const cli: number[] = [];
const bare: number[] = [];
for (let i = 0; i < runs; i++) {
  cli.push(await time(commands.cli));
  bare.push(await time(commands.bare));
}
const a = summarize(cli);
const b = summarize(bare);
console.log(`dispatch version --client:          ${format(a)}`);
console.log(`node -e 'import("@dispatch/client")': ${format(b)}`);
console.log(`ratio of medians: ${(a.p50 / b.p50).toFixed(2)}× (target ≤ 1.3×)`);
