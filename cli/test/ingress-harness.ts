import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startNats } from "@dispatch/testkit";
import { startUp, type Up, type UpOptions } from "../src/up/up.js";

/**
 * `dispatch up` for the ingress tests: in this process, with a nats-server of
 * the test's own, every port free, no access log; the CLI run as a separate
 * process against the context it saved, as a user would.
 */
export interface IngressHarness {
  up: Up;
  /** The environment the CLI runs with (its config file, a HOME of its own). */
  env: NodeJS.ProcessEnv;
  /** A temporary directory of the test's; the data dir is `<dir>/data`. */
  dir: string;
  /** The gateway's plain-HTTP base URL. */
  gateway: string;
  /** The event broker's URL. */
  events: string;
  /** Runs `dispatch ARGS…`. */
  dispatch(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs `dispatch ARGS…` and returns its stdout; throws with its stderr when it fails. */
  ok(...args: string[]): Promise<string>;
  /** Writes `code` to `<dir>/<name>.js` and creates a READY function from it. */
  fn(name: string, code: string, ...flags: string[]): Promise<void>;
  /** Stops dispatch up, then the nats-server. */
  stop(): Promise<void>;
}

const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

/** Starts an {@link IngressHarness}; `name` goes into the temporary directory's name. */
export async function startIngressHarness(
  name: string,
  options: { driver?: UpOptions["driver"]; port?: number } = {},
): Promise<IngressHarness> {
  const nats = await startNats();
  const dir = await mkdtemp(join(tmpdir(), `dispatch-${name}-`));
  const configPath = join(dir, "config.json");
  const up = await startUp({
    dataDir: join(dir, "data"),
    host: "127.0.0.1",
    port: options.port ?? 0,
    ...(options.driver ? { driver: options.driver } : {}),
    natsUrl: nats.urlWithCredentials,
    // Not started: the test's own nats-server is given.
    natsServerBin: "nats-server",
    activatorPort: 0,
    gatewayPort: 0,
    gatewayTlsPort: 0,
    xdsPort: 0,
    eventsPort: 0,
    contextName: "local",
    configPath,
    accessLog: false,
    log: () => {},
  }).catch(async (err: unknown) => {
    await nats.stop();
    throw err;
  });
  const env = { ...process.env, DISPATCH_CONFIG: configPath, HOME: dir };
  const dispatch = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
      });
    });
  const ok = async (...args: string[]) => {
    const result = await dispatch(...args);
    if (result.code !== 0) {
      throw new Error(`dispatch ${args.join(" ")} failed (${result.code}):\n${result.stderr}`);
    }
    return result.stdout;
  };
  return {
    up,
    env,
    dir,
    gateway: up.ingress.urls.gateway,
    events: up.events.broker.url,
    dispatch,
    ok,
    async fn(fnName, code, ...flags) {
      const file = join(dir, `${fnName}.js`);
      await writeFile(file, code);
      await ok("create", "function", fnName, file, "--wait", ...flags);
    },
    async stop() {
      await up.stop();
      await nats.stop();
    },
  };
}
