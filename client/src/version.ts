import { readFileSync } from "node:fs";

let cached: string | undefined;

/** This package's version, read once from `client/package.json` (for the default user agent). */
export function clientPackageVersion(): string {
  if (cached === undefined) {
    // Compiled to client/dist/src/version.js: the package root is two levels up.
    const url = new URL("../../package.json", import.meta.url);
    const pkg = JSON.parse(readFileSync(url, "utf8")) as { version?: unknown };
    cached = typeof pkg.version === "string" ? pkg.version : "unknown";
  }
  return cached;
}
