import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { Role } from "@dispatch/proto";
import { type NatsConnectionSettings, parseNatsUrl } from "@dispatch/server-kit";
import { type ControlPlane, type ControlPlaneOptions, startControlPlane } from "./control-plane.js";
import type { KubernetesSettings, KubernetesSetup } from "./drivers/kubernetes.js";
import { ConfigurationError } from "./errors.js";
import type { IsolationChoice } from "./functions/isolation/isolation.js";
import { parseSecretKey } from "./secrets/sealer.js";

/** The flags of `dispatch-control-plane`; each has an environment variable (see {@link usage}). */
const flags = {
  listen: { type: "string" },
  "nats-url": { type: "string" },
  "nats-creds": { type: "string" },
  "nats-tls-ca": { type: "string" },
  "nats-tls-cert": { type: "string" },
  "nats-tls-key": { type: "string" },
  "nats-replicas": { type: "string" },
  "secret-key-file": { type: "string" },
  "admin-token-file": { type: "string" },
  driver: { type: "string" },
  isolation: { type: "string" },
  "work-dir": { type: "string" },
  "activator-port": { type: "string" },
  "shutdown-grace": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** The help text. */
export const usage = `Usage: dispatch-control-plane [flags]

Runs the Dispatch control plane (the dispatch.v1 API, the scheduler, the
activator) as a process of its own, as a Kubernetes Deployment does. Every flag
can be given as the environment variable named beside it; a flag wins.

  --listen HOST:PORT          where the API listens (DISPATCH_LISTEN; default 0.0.0.0:8080)
  --nats-url URL              NATS with JetStream, e.g. nats://user:password@nats:4222 or
                              tls://nats:4222; several separated by commas
                              (DISPATCH_NATS_URL, else NATS_URL; default nats://127.0.0.1:4222)
  --nats-creds FILE           a NATS credentials file (DISPATCH_NATS_CREDS)
  --nats-tls-ca FILE          the CA of the NATS servers' certificates (DISPATCH_NATS_TLS_CA)
  --nats-tls-cert FILE        a client certificate for NATS (DISPATCH_NATS_TLS_CERT)
  --nats-tls-key FILE         its key (DISPATCH_NATS_TLS_KEY)
  --nats-replicas N           replicas of each KV bucket: 1, or 3 in a NATS cluster
                              (DISPATCH_NATS_REPLICAS; default 1)
  --secret-key-file FILE      the 32-byte key that seals secrets, base64 or hex
                              (DISPATCH_SECRET_KEY_FILE, or the key itself in
                              DISPATCH_SECRET_KEY; required). Make one with:
                              openssl rand -base64 32
  --admin-token-file FILE     an admin token to make sure exists, at least 32
                              characters (DISPATCH_ADMIN_TOKEN_FILE, or the token
                              itself in DISPATCH_ADMIN_TOKEN)
  --driver NAME               what runs function instances: local (worker processes
                              beside the control plane) or kubernetes (pods of the
                              cluster, one Deployment per function revision; the
                              replicas elect a leader with a Lease) (DISPATCH_DRIVER;
                              default local)
  --isolation MODE            how local workers are isolated: auto, bubblewrap or
                              process (DISPATCH_ISOLATION; default auto)
  --work-dir DIR              where bundles are unpacked (DISPATCH_WORK_DIR; default a temp dir)
  --activator-port PORT       the activator's port, on the interface of --listen
                              (DISPATCH_ACTIVATOR_PORT; default a free one)
  --shutdown-grace SECONDS    how long calls in flight may take to finish on SIGTERM
                              (DISPATCH_SHUTDOWN_GRACE; default 10)
  -h, --help                  this text
  --version                   the version

With --driver kubernetes, these variables (set by the manifests of dispatch
install) configure it: DISPATCH_RUNTIME_IMAGE_NODEJS and
DISPATCH_RUNTIME_IMAGE_PYTHON3 (the runtime images; required),
DISPATCH_CONTROL_PLANE_URL (where pods fetch their bundle; required),
POD_NAMESPACE (where functions run; default dispatch), POD_NAME (this
replica's identity in the leader election; default the host name),
DISPATCH_IMAGE_PULL_POLICY, DISPATCH_FUNCTION_SERVICE_ACCOUNT,
DISPATCH_LEADER_LEASE (seconds a leader's Lease holds without renewal; a
standby replica takes over after it; default 15); the cluster
comes from KUBECONFIG, else ~/.kube/config, else the pod's service account.

SIGTERM or SIGINT stops it gracefully: no new calls, calls in flight finish,
workers drain (local driver; pods keep running for the next control plane),
then the NATS connection is drained.
`;

/** A flag or variable has a value that cannot work; the message says which and what would. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The Kubernetes driver's settings from the environment; throws {@link UsageError} naming what is missing. */
function kubernetesSettings(env: NodeJS.ProcessEnv): KubernetesSettings {
  const value = (name: string) => {
    const text = env[name]?.trim();
    return text === undefined || text === "" ? undefined : text;
  };
  const required = (name: string, what: string) => {
    const text = value(name);
    if (text === undefined) throw new UsageError(`--driver kubernetes needs ${name}: ${what}`);
    return text;
  };
  const controlPlaneUrl = required(
    "DISPATCH_CONTROL_PLANE_URL",
    "the control plane's URL as function pods reach it, e.g. http://dispatch-control-plane.dispatch.svc.cluster.local:8080",
  );
  if (!/^https?:\/\/[^/]+/.test(controlPlaneUrl)) {
    throw new UsageError(
      `DISPATCH_CONTROL_PLANE_URL must be an http:// or https:// URL, not "${controlPlaneUrl}"`,
    );
  }
  return {
    namespace: value("POD_NAMESPACE") ?? "dispatch",
    images: {
      nodejs: required(
        "DISPATCH_RUNTIME_IMAGE_NODEJS",
        "the Node.js runtime image, e.g. registry.example.com/dispatch/runtime-nodejs:0.1.0",
      ),
      python3: required(
        "DISPATCH_RUNTIME_IMAGE_PYTHON3",
        "the Python runtime image, e.g. registry.example.com/dispatch/runtime-python3:0.1.0",
      ),
    },
    controlPlaneUrl,
    identity: value("POD_NAME") ?? hostname(),
    imagePullPolicy: value("DISPATCH_IMAGE_PULL_POLICY"),
    serviceAccount: value("DISPATCH_FUNCTION_SERVICE_ACCOUNT"),
    leaseMs:
      integer(value("DISPATCH_LEADER_LEASE") ?? "15", "DISPATCH_LEADER_LEASE (seconds)", 2, 300) * 1000,
  };
}

/** What the process was asked to run. */
export interface MainSettings {
  host: string;
  port: number;
  nats: NatsConnectionSettings;
  replicas: number;
  secretKey: Uint8Array;
  adminToken: string | undefined;
  driver: "local" | "kubernetes";
  /** The Kubernetes driver's settings, with `--driver kubernetes`. */
  kubernetes: KubernetesSettings | undefined;
  isolation: IsolationChoice;
  workDir: string | undefined;
  activatorPort: number | undefined;
  graceMs: number;
}

/**
 * The settings from the command line and the environment (a flag wins over
 * its variable). Throws {@link UsageError} saying what is wrong; reads the
 * secret key and admin token files it is given.
 */
export async function readSettings(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<MainSettings> {
  let values: { [K in keyof typeof flags]?: (typeof flags)[K]["type"] extends "boolean" ? boolean : string };
  try {
    ({ values } = parseArgs({ args: [...argv], options: flags, allowPositionals: false, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const setting = (flag: Exclude<keyof typeof flags, "help" | "version">, variable: string) => {
    const value = values[flag] ?? env[variable];
    return value === undefined || value === "" ? undefined : String(value);
  };

  const driver = setting("driver", "DISPATCH_DRIVER") ?? "local";
  if (driver !== "local" && driver !== "kubernetes") {
    throw new UsageError(`unknown driver "${driver}": use local or kubernetes`);
  }

  const isolation = setting("isolation", "DISPATCH_ISOLATION") ?? "auto";
  if (isolation !== "auto" && isolation !== "bubblewrap" && isolation !== "process") {
    throw new UsageError(`unknown isolation "${isolation}": use auto, bubblewrap or process`);
  }

  const { host, port } = parseListen(setting("listen", "DISPATCH_LISTEN") ?? "0.0.0.0:8080");

  const natsUrl = setting("nats-url", "DISPATCH_NATS_URL") ?? env.NATS_URL ?? "nats://127.0.0.1:4222";
  let nats: NatsConnectionSettings;
  try {
    nats = parseNatsUrl(natsUrl);
  } catch (err) {
    throw new UsageError(`--nats-url: ${(err as Error).message}`);
  }
  const creds = setting("nats-creds", "DISPATCH_NATS_CREDS");
  if (creds) nats.credsFile = creds;
  const tls = {
    ...nats.tls,
    ...optional("caFile", setting("nats-tls-ca", "DISPATCH_NATS_TLS_CA")),
    ...optional("certFile", setting("nats-tls-cert", "DISPATCH_NATS_TLS_CERT")),
    ...optional("keyFile", setting("nats-tls-key", "DISPATCH_NATS_TLS_KEY")),
  };
  if (nats.tls || Object.keys(tls).length > 0) nats.tls = tls;
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new UsageError("--nats-tls-cert and --nats-tls-key go together: give both, or neither");
  }

  const replicas = integer(
    setting("nats-replicas", "DISPATCH_NATS_REPLICAS") ?? "1",
    "--nats-replicas",
    1,
    5,
  );
  const activator = setting("activator-port", "DISPATCH_ACTIVATOR_PORT");
  const graceSeconds = Number(setting("shutdown-grace", "DISPATCH_SHUTDOWN_GRACE") ?? "10");
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new UsageError("--shutdown-grace must be a number of seconds, e.g. 10");
  }

  return {
    host,
    port,
    nats,
    replicas,
    secretKey: await secretKeyOf(setting("secret-key-file", "DISPATCH_SECRET_KEY_FILE"), env),
    adminToken: await adminTokenOf(setting("admin-token-file", "DISPATCH_ADMIN_TOKEN_FILE"), env),
    driver,
    kubernetes: driver === "kubernetes" ? kubernetesSettings(env) : undefined,
    isolation,
    workDir: setting("work-dir", "DISPATCH_WORK_DIR"),
    activatorPort: activator === undefined ? undefined : integer(activator, "--activator-port", 0, 65535),
    graceMs: graceSeconds * 1000,
  };
}

/** `{ [key]: value }` when there is a value, else nothing. */
function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: string });
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, not "${text}"`);
  }
  return value;
}

/** HOST:PORT, [IPv6]:PORT, or :PORT (every interface). */
function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!match) throw new UsageError(`--listen takes HOST:PORT (e.g. 0.0.0.0:8080), not "${text}"`);
  return {
    host: match[1] ?? (match[2] || "0.0.0.0"),
    port: integer(match[3] ?? "", "--listen's port", 0, 65535),
  };
}

async function secretKeyOf(file: string | undefined, env: NodeJS.ProcessEnv): Promise<Uint8Array> {
  const text = file !== undefined ? await readSecretFile(file, "--secret-key-file") : env.DISPATCH_SECRET_KEY;
  if (!text) {
    throw new UsageError(
      "a secret key is required: set DISPATCH_SECRET_KEY to 32 bytes in base64 or hex, or name a file holding it with --secret-key-file (make one with: openssl rand -base64 32)",
    );
  }
  try {
    return parseSecretKey(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function adminTokenOf(file: string | undefined, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const token = (
    file !== undefined ? await readSecretFile(file, "--admin-token-file") : (env.DISPATCH_ADMIN_TOKEN ?? "")
  ).trim();
  if (token === "") return undefined;
  if (token.length < 32 || /\s/.test(token)) {
    throw new UsageError(
      "the admin token must be at least 32 characters without spaces; make one with: openssl rand -base64 32",
    );
  }
  return token;
}

async function readSecretFile(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).message}`);
  }
}

/** This package's version, from its package.json. */
function version(): string {
  try {
    // Compiled to control-plane/dist/src/main.js: the package root is two levels up.
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: unknown;
    };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** Where the process writes: its log (stderr) and answers (stdout). */
export interface MainOutput {
  out(line: string): void;
  err(line: string): void;
}

const processOutput: MainOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * The production entry point (`bin/dispatch-control-plane.js`): settings from
 * flags and the environment → the driver → the control plane, until SIGTERM or
 * SIGINT stops it gracefully. Resolves with the exit code: 0 after a clean
 * stop, 1 when it could not start as configured, 2 for a bad flag or variable.
 *
 * @example
 * DISPATCH_SECRET_KEY=$(cat key) dispatch-control-plane --nats-url nats://nats:4222 --listen 0.0.0.0:8080
 */
export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  output: MainOutput = processOutput,
): Promise<number> {
  const log = (line: string) => output.err(`dispatch-control-plane: ${line}`);
  if (argv.includes("--help") || argv.includes("-h")) {
    output.out(usage);
    return 0;
  }
  if (argv.includes("--version")) {
    output.out(version());
    return 0;
  }
  let settings: MainSettings;
  try {
    settings = await readSettings(argv, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    log(`${err.message} (see --help)`);
    return 2;
  }

  const logError = (message: string, error?: unknown) =>
    log(
      error === undefined
        ? message
        : `${message}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  const options: ControlPlaneOptions = {
    nats: settings.nats,
    host: settings.host,
    port: settings.port,
    secretKey: settings.secretKey,
    replicas: settings.replicas,
    isolation: settings.isolation,
    version: version(),
    ...(settings.adminToken
      ? { bootstrapTokens: [{ name: "admin", secret: settings.adminToken, role: Role.ADMIN }] }
      : {}),
    ...(settings.workDir ? { workDir: settings.workDir } : {}),
    ...(settings.activatorPort === undefined ? {} : { activatorPort: settings.activatorPort }),
    // The activator listens where the API does: on a cluster, Envoy reaches it through its Service.
    activatorHost: settings.host,
    log: logError,
  };
  // A stop asked for while starting is honoured once started.
  const stopSignal = waitForStopSignal();
  let controlPlane: ControlPlane;
  let kubernetes: KubernetesSetup | undefined;
  try {
    if (settings.driver === "kubernetes") {
      // Loaded only for this driver: nothing else needs @kubernetes/client-node.
      const { kubernetesSetup } = await import("./drivers/kubernetes.js");
      kubernetes = await kubernetesSetup(settings.kubernetes as KubernetesSettings, env, logError);
      log(`kubernetes driver: ${kubernetes.describe}`);
      options.driver = kubernetes.driver;
      options.leader = kubernetes.leader;
    }
    controlPlane = await startControlPlane(options);
  } catch (err) {
    await kubernetes?.close();
    stopSignal.cancel();
    const failed = err as NodeJS.ErrnoException;
    if (err instanceof ConfigurationError) log(err.message);
    else if (failed.code === "EADDRINUSE") {
      log(`cannot listen: ${failed.message}; pick another port with --listen or --activator-port`);
    } else log(`cannot start: ${failed.stack ?? failed.message}`);
    return 1;
  }
  const urls = controlPlane.urls();
  log(
    `serving the API on ${controlPlane.url} (activator ${urls.activator}, driver ${settings.driver}, nats ${urls.nats})`,
  );
  if (!settings.adminToken) {
    log("no admin token was given (DISPATCH_ADMIN_TOKEN_FILE): only tokens created before can call the API");
  }
  const signal = await stopSignal.received;
  log(`${signal}: stopping (calls in flight have ${settings.graceMs / 1000}s to finish)`);
  // A second signal does not wait for the graceful stop.
  stopSignal.onAnother((again) => {
    log(`${again} again: exiting at once`);
    process.exit(1);
  });
  await controlPlane.close(settings.graceMs);
  // The lease is given up last, so that the next leader takes over at once.
  await kubernetes?.close();
  log("stopped");
  return 0;
}

/** The first SIGTERM or SIGINT, and a hook for another. */
function waitForStopSignal(): {
  received: Promise<NodeJS.Signals>;
  onAnother(listener: (signal: NodeJS.Signals) => void): void;
  cancel(): void;
} {
  let first: ((signal: NodeJS.Signals) => void) | undefined;
  let another: ((signal: NodeJS.Signals) => void) | undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => {
    first = resolve;
  });
  let seen = false;
  const handler = (signal: NodeJS.Signals) => {
    if (!seen) {
      seen = true;
      first?.(signal);
    } else another?.(signal);
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return {
    received,
    onAnother(listener) {
      another = listener;
    },
    cancel() {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    },
  };
}
