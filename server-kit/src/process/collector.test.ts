import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import test from "ava";

const run = promisify(execFile);
const collector = fileURLToPath(new URL("./collector.js", import.meta.url));
const script = `import(${JSON.stringify(collector)}).then((m) => process.stdout.write(m.tuneCollectorForProxying()))`;

/** What tuneCollectorForProxying answers in a fresh node process started with `args`. */
async function tuningIn(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [...args, "-e", script]);
  return stdout;
}

test("collector: pretenuring is turned off in a process started without a say on it", async (t) => {
  t.is(await tuningIn([]), "applied");
});

test("collector: node started with its own pretenuring flag keeps it; other flags do not count", async (t) => {
  t.is(await tuningIn(["--allocation-site-pretenuring"]), "kept");
  t.is(await tuningIn(["--no-allocation_site_pretenuring"]), "kept");
  t.is(await tuningIn(["--max-semi-space-size=32"]), "applied");
});
