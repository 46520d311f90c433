import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import test from "ava";

// The real `dispatch` binary under a module loader hook (node:module's
// register) that writes down the URL of every module the process loads.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

const hooks = `import { appendFileSync } from "node:fs";
let file;
export async function initialize(data) { file = data.file; }
export async function load(url, context, next) {
  appendFileSync(file, url + "\\n");
  return next(url, context);
}
`;

async function modulesLoadedBy(args: string[]): Promise<{ code: number; loaded: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-lazy-"));
  const record = join(dir, "loaded.txt");
  await writeFile(join(dir, "hooks.mjs"), hooks);
  await writeFile(record, "");
  await writeFile(
    join(dir, "register.mjs"),
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)}, { data: { file: ${JSON.stringify(record)} } });\n`,
  );
  const code = await new Promise<number>((resolve) => {
    execFile(
      process.execPath,
      ["--import", pathToFileURL(join(dir, "register.mjs")).href, bin, ...args],
      { env: { PATH: process.env.PATH, HOME: dir }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error) => resolve(error ? (typeof error.code === "number" ? error.code : 1) : 0),
    );
  });
  return { code, loaded: (await readFile(record, "utf8")).split("\n").filter(Boolean) };
}

const installCode = (loaded: string[]) => loaded.filter((url) => url.includes("/cli/dist/src/install/"));
const kubeClient = (loaded: string[]) => loaded.filter((url) => url.includes("/@kubernetes/client-node/"));

test("other commands load neither the install code nor @kubernetes/client-node", async (t) => {
  const { code, loaded } = await modulesLoadedBy(["version", "--help"]);
  t.is(code, 0);
  // The hook saw the CLI load, so its silence about the rest means something.
  t.true(loaded.some((url) => url.endsWith("/cli/dist/src/commands/install.js")));
  t.deepEqual(installCode(loaded), []);
  t.deepEqual(kubeClient(loaded), []);
});

test("install --dry-run loads the install code but not @kubernetes/client-node", async (t) => {
  const { code, loaded } = await modulesLoadedBy(["install", "--dry-run"]);
  t.is(code, 0);
  t.true(installCode(loaded).some((url) => url.endsWith("/install/render.js")));
  t.deepEqual(kubeClient(loaded), []);
});

test("install against a cluster loads @kubernetes/client-node (and only then)", async (t) => {
  // No kubeconfig in the empty home: the command fails after loading the client to look for one.
  const { code, loaded } = await modulesLoadedBy(["install", "--kubeconfig", "/nonexistent/kubeconfig"]);
  t.is(code, 2);
  t.true(kubeClient(loaded).length > 0);
});
