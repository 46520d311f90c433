import { readFileSync } from "node:fs";

let cached: string | undefined;

/** The CLI's own version, read once from `cli/package.json`. */
export function clientVersion(): string {
  if (cached === undefined) {
    // Compiled to cli/dist/src/version.js, so the package root is two levels up.
    const url = new URL("../../package.json", import.meta.url);
    const pkg = JSON.parse(readFileSync(url, "utf8")) as { version?: unknown };
    cached = typeof pkg.version === "string" ? pkg.version : "unknown";
  }
  return cached;
}
