import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Where Debian's and other packages put nats-server: sbin is not on a normal user's PATH. */
const fallbacks = ["/usr/sbin/nats-server", "/usr/local/sbin/nats-server"];

/**
 * The nats-server binary to start: `$NATS_SERVER_BIN`, else `nats-server` on
 * PATH, else the first of the sbin directories that has it, else the bare
 * name (so a "not found" error names what to install).
 */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NATS_SERVER_BIN) return env.NATS_SERVER_BIN;
  const onPath = (env.PATH ?? "")
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, "nats-server"));
  return [...onPath, ...fallbacks].find(isExecutable) ?? "nats-server";
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
