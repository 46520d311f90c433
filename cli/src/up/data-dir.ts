import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { newTokenSecret, parseSecretKey } from "@dispatch/control-plane";

/** The default data dir of `dispatch up`. */
export function defaultDataDir(): string {
  return join(homedir(), ".dispatch", "data");
}

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
  return { path, adminToken: token.value, adminTokenPath, secretKey, firstStart: token.created };
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
