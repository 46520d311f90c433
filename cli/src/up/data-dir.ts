import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { newTokenSecret, parseSecretKey } from "@dispatch/control-plane";
import type { NatsUserPassword } from "@dispatch/server-kit";
import { UpError } from "./up-error.js";

/** The files `dispatch up` keeps in its data dir. */
export interface DataDir {
  path: string;
  /** The admin bearer token (file `admin.token`, mode 0600). */
  adminToken: string;
  adminTokenPath: string;
  /** The key that seals secrets (file `secret.key`, or $DISPATCH_SECRET_KEY). */
  secretKey: Uint8Array;
  /** True when this start created the admin token (the first start). */
  firstStart: boolean;
  /**
   * The token of the platform's own components (file `component.token`): the
   * ingress controller reads the API and writes endpoint status with it, and
   * the gateway presents it at the activator.
   */
  componentToken: string;
  /** The token proxies present to the xds-server (file `xds-node.token`). */
  xdsNodeToken: string;
}

/**
 * Opens (creating on first use) the data dir: mode 0700, with the admin token
 * and the secret-sealing key in files of mode 0600.
 */
export async function openDataDir(path: string, env: NodeJS.ProcessEnv = process.env): Promise<DataDir> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const adminTokenPath = join(path, "admin.token");
  const token = await readOrCreate(adminTokenPath, () => newTokenSecret());
  let secretKey: Uint8Array;
  if (env.DISPATCH_SECRET_KEY) {
    secretKey = parseSecretKey(env.DISPATCH_SECRET_KEY);
  } else {
    const key = await readOrCreate(join(path, "secret.key"), () => randomBytes(32).toString("base64"));
    secretKey = parseSecretKey(key.value);
  }
  const componentToken = await readOrCreate(join(path, "component.token"), () => newTokenSecret());
  const xdsNodeToken = await readOrCreate(join(path, "xds-node.token"), () => newTokenSecret());
  return {
    path,
    adminToken: token.value,
    adminTokenPath,
    secretKey,
    firstStart: token.created,
    componentToken: componentToken.value,
    xdsNodeToken: xdsNodeToken.value,
  };
}

async function readOrCreate(file: string, make: () => string): Promise<{ value: string; created: boolean }> {
  try {
    const value = (await readFile(file, "utf8")).trim();
    if (value !== "") return { value, created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const value = make();
  await writeFile(file, `${value}\n`, { mode: 0o600, flag: "w" });
  await chmod(file, 0o600);
  return { value, created: true };
}

/**
 * The user and password that the nats-server `dispatch up` starts requires
 * (file `nats-credentials.json`, mode 0600), generated on first use.
 */
export async function natsCredentials(
  dataDir: string,
): Promise<{ credentials: NatsUserPassword; file: string }> {
  const file = join(dataDir, "nats-credentials.json");
  const stored = await readOrCreate(file, () =>
    JSON.stringify({ user: "dispatch", password: randomBytes(24).toString("base64url") }),
  );
  let credentials: Partial<NatsUserPassword> = {};
  try {
    credentials = JSON.parse(stored.value) as Partial<NatsUserPassword>;
  } catch {
    // reported below
  }
  if (typeof credentials.user !== "string" || typeof credentials.password !== "string") {
    throw new UpError(`${file} does not hold a user and password: delete it to have new ones made`);
  }
  return { credentials: { user: credentials.user, password: credentials.password }, file };
}

/** The ports `dispatch up` chose, kept so the next start uses them again. */
export interface StoredPorts {
  nats?: number;
  activator?: number;
  gateway?: number;
  gatewayTls?: number;
  xds?: number;
  events?: number;
}

const storedPortNames = ["nats", "activator", "gateway", "gatewayTls", "xds", "events"] as const;

/** The ports the last start used (file `ports.json`); none on first start. */
export async function readPorts(dataDir: string): Promise<StoredPorts> {
  try {
    const stored = JSON.parse(await readFile(join(dataDir, "ports.json"), "utf8")) as Record<string, unknown>;
    const port = (value: unknown) =>
      typeof value === "number" && Number.isInteger(value) && value > 0 && value < 65536 ? value : undefined;
    const out: StoredPorts = {};
    for (const name of storedPortNames) {
      const value = port(stored[name]);
      if (value !== undefined) out[name] = value;
    }
    return out;
  } catch {
    return {};
  }
}

/** Remembers the ports for the next start. */
export async function savePorts(dataDir: string, ports: StoredPorts): Promise<void> {
  const file = join(dataDir, "ports.json");
  await writeFile(file, `${JSON.stringify(ports)}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}

/**
 * Claims the data dir for this `dispatch up` (file `dispatch-up.pid`): its
 * NATS, ports and workers are one instance's. Returns the running owner's
 * pid instead when another `dispatch up` holds it; a claim left by one that
 * was killed is taken over.
 */
export async function claimDataDir(
  dataDir: string,
): Promise<{ release(): Promise<void> } | { heldBy: number }> {
  const file = join(dataDir, "dispatch-up.pid");
  const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && (await isDispatchProcess(pid))) {
    return { heldBy: pid };
  }
  await writeFile(file, `${process.pid}\n`, { mode: 0o600 });
  return {
    async release() {
      await rm(file, { force: true });
    },
  };
}

/** Whether `pid` runs (and, where /proc tells, runs dispatch: a pid may have been reused). */
async function isDispatchProcess(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => undefined);
  return cmdline === undefined || cmdline.includes("dispatch");
}
