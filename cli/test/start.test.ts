import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import test from "ava";

// The real `dispatch` binary, with a module loader hook that writes down every
// module the process loads (Node's `module.register`; hooks see every ESM
// import and every CommonJS file reached through one).
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

const hooks = `
import { appendFileSync } from "node:fs";
let file;
export async function initialize(data) {
  file = data.file;
}
export async function load(url, context, next) {
  appendFileSync(file, url + "\\n");
  return next(url, context);
}
`;

/** Runs the CLI with the hook; returns what it printed and the URLs of the modules it loaded. */
async function runRecorded(args: string[]): Promise<{ code: number; stdout: string; loaded: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-start-"));
  const hooksFile = join(dir, "hooks.mjs");
  const registerFile = join(dir, "register.mjs");
  const loads = join(dir, "loads.txt");
  await writeFile(hooksFile, hooks);
  await writeFile(loads, "");
  await writeFile(
    registerFile,
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooksFile).href)}, { data: { file: ${JSON.stringify(loads)} } });\n`,
  );
  const env = { PATH: process.env.PATH, HOME: dir, DISPATCH_CONFIG: join(dir, "config.json") };
  const { code, stdout } = await new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--import", pathToFileURL(registerFile).href, bin, ...args],
      { env, timeout: 60_000 },
      (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
    );
  });
  const loaded = (await readFile(loads, "utf8")).split("\n").filter(Boolean);
  return { code, stdout, loaded };
}

/** Modules of the servers the CLI must not load outside `dispatch up`. */
const serverModules = (loaded: string[]) =>
  loaded.filter((url) => /\/(control-plane|server-kit|runtimes)\/|\/@nats-io\//.test(url));

test("version --client loads the client, and nothing of the control plane, server-kit or NATS", async (t) => {
  const { code, stdout, loaded } = await runRecorded(["version", "--client"]);
  t.is(code, 0);
  t.regex(stdout, /^Client: \d+\.\d+\.\d+\n$/);
  // The hook saw the CLI and the client package load, so its silence below means something.
  t.true(
    loaded.some((url) => url.endsWith("/cli/dist/src/main.js")),
    "the CLI's main module is in the record",
  );
  t.true(
    loaded.some((url) => url.endsWith("/client/dist/src/index.js")),
    "@dispatch/client is in the record",
  );
  t.deepEqual(serverModules(loaded), []);
});

test("a command that talks to a server loads no server module either", async (t) => {
  // Nothing listens on port 1: the command fails at once, after loading what it needs.
  const { code, loaded } = await runRecorded(["get", "functions", "--server", "http://127.0.0.1:1"]);
  t.is(code, 1);
  t.true(loaded.some((url) => url.endsWith("/cli/dist/src/commands/get.js")));
  t.deepEqual(serverModules(loaded), []);
});

test("version --client -o json prints only the client's version", async (t) => {
  const { code, stdout } = await runRecorded(["version", "--client", "-o", "json"]);
  t.is(code, 0);
  t.deepEqual(Object.keys(JSON.parse(stdout)), ["client"]);
});
