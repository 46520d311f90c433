import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import test from "ava";
import { openCgroups } from "./cgroup.js";

// Real cgroups, where this process may create them (root, or a delegated cgroup).

test("an instance cgroup holds a process and its detached children; removing it kills them all and leaves nothing", async (t) => {
  const cgroups = await openCgroups();
  if ("unavailable" in cgroups) {
    t.log(`no cgroups here: ${cgroups.unavailable}`);
    t.regex(cgroups.unavailable, /\w/);
    return;
  }
  t.teardown(() => cgroups.close());
  const cgroup = await cgroups.create({ memoryBytes: 64 * 2 ** 20, maxProcesses: 64 });
  const dirs = cgroup.procsFiles.map((file) => dirname(file));
  t.true(dirs.every((dir) => existsSync(dir)));
  // Joins, then starts a child in a session of its own (as a daemon would) and prints its pid.
  const child = spawn(
    "/bin/sh",
    [
      "-c",
      'for f in "$@"; do echo $$ > "$f"; done; setsid sleep 300 & echo $!; wait',
      "sh",
      ...cgroup.procsFiles,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const pid = await new Promise<number>((resolve) =>
    child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString()))),
  );
  t.true(alive(pid));
  t.false(await cgroup.outOfMemory());
  await cgroup.remove();
  t.false(alive(pid), "the detached child was killed");
  t.true(
    dirs.every((dir) => !existsSync(dir)),
    "the cgroup is gone",
  );
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie waiting for its parent counts as gone.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}
