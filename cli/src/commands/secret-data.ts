import type { Command } from "commander";
import type { App } from "../app.js";
import { UsageError } from "../errors.js";

/** Adds the repeatable `--from-literal KEY=VALUE` flag. */
export function addLiteralOption(command: Command): Command {
  return command.option(
    "--from-literal <key=value>",
    "a secret value (repeatable); beats the same key in FILE.json",
    (value: string, previous: string[] = []) => [...previous, value],
  );
}

/**
 * The data of a secret from `FILE.json` (a flat object of strings) and
 * `--from-literal key=value` flags, the literals winning.
 */
export async function readSecretData(
  app: App,
  file: string | undefined,
  literals: readonly string[] = [],
): Promise<Record<string, string>> {
  const data: Record<string, string> = {};
  if (file !== undefined) Object.assign(data, parseSecretFile(await app.readInput(file), file));
  for (const literal of literals) {
    const eq = literal.indexOf("=");
    if (eq <= 0) throw new UsageError(`--from-literal "${literal}" is not KEY=VALUE`);
    data[literal.slice(0, eq)] = literal.slice(eq + 1);
  }
  return data;
}

/** Parses a secret file: a flat JSON object whose values are all strings. */
export function parseSecretFile(text: string, file: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`${file} must hold a JSON object of strings, like {"password": "s3cret"}`);
  }
  const data: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new UsageError(`${file}: the value of "${key}" is ${describe(v)}; secret values must be strings`);
    }
    data[key] = v;
  }
  return data;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
