import { create, type JsonObject } from "@bufbuild/protobuf";
import { type Duration, durationFromMs } from "@bufbuild/protobuf/wkt";
import { type FunctionSpec, functionRuntimes, IoSchemaSchema, ScaleSchema } from "@dispatch/proto";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { App } from "../app.js";
import { UsageError } from "../errors.js";
import { parseDuration } from "../output/time.js";

/** The flags `create function` and `update function` share. */
export interface FunctionFlags {
  runtime?: string;
  handler?: string;
  secret?: string[];
  env?: [string, string][];
  schemaIn?: string;
  schemaOut?: string;
  minScale?: number;
  maxScale?: number;
  concurrency?: number;
  idleTimeout?: number;
  /** How long --wait waits, in milliseconds. */
  timeoutWait: number;
}

/**
 * Parses a duration flag (`30s`, `500ms`, `2m`, `1h30m`; a bare number is seconds)
 * into milliseconds, for commander.
 *
 * @throws InvalidArgumentError (exit status 2) for anything else, or zero.
 */
export function parseDurationFlag(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError("use a duration such as 500ms, 30s or 2m.");
  return ms;
}

/** Milliseconds as a protobuf Duration (`1500` → 1.5s). */
export function toDuration(ms: number): Duration {
  return durationFromMs(ms);
}

/** Parses a count flag: a whole number, 0 or more. */
export function parseCountFlag(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) > 0xffffffff) {
    throw new InvalidArgumentError("use a whole number, 0 or more.");
  }
  return Number(value);
}

/** Parses one `--env KEY=VALUE` and adds it to the ones before. */
export function parseEnvFlag(value: string, previous: [string, string][] = []): [string, string][] {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`"${value}" is not KEY=VALUE.`);
  return [...previous, [value.slice(0, eq), value.slice(eq + 1)]];
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Adds the function flags to `create function` or `update function`. `--timeout`
 * is declared for the help text only: the parent command (`create`, `update`)
 * owns that flag, so commander hands the value to the parent (see
 * {@link functionTimeoutMs}).
 */
export function addFunctionOptions(command: Command, verb: "create" | "update"): Command {
  const replaces = verb === "update" ? "; replaces the function's list" : "";
  return command
    .addOption(
      new Option("--runtime <runtime>", "the language runtime (default: from the file extension)").choices(
        functionRuntimes,
      ),
    )
    .option(
      "--handler <handler>",
      "nodejs: the file, e.g. hello.js or hello.js:name; python3: module.function, e.g. hello.handle " +
        "(default for a single file: the file, or module.handle)",
    )
    .option(
      "--secret <name>",
      `a secret whose values the function gets in context.secrets (repeatable, later wins${replaces})`,
      collect,
    )
    .option(
      "--env <key=value>",
      `an environment variable of the function (repeatable${verb === "update" ? "; replaces all of them" : ""})`,
      parseEnvFlag,
    )
    .option("--schema-in <file>", "a JSON Schema file the input must match")
    .option("--schema-out <file>", "a JSON Schema file the output must match")
    .addOption(
      new Option(
        "--timeout <duration>",
        "the deadline of one call, e.g. 30s or 500ms (server default 30s)",
      ).argParser(parseDurationFlag),
    )
    .option("--min-scale <n>", "instances kept warm (0 scales to zero when idle)", parseCountFlag)
    .option("--max-scale <n>", "the most instances (0: the server default)", parseCountFlag)
    .option("--concurrency <n>", "calls in flight per instance (0: the server default)", parseCountFlag)
    .option(
      "--idle-timeout <duration>",
      "scale down after this long without calls, e.g. 60s",
      parseDurationFlag,
    )
    .addOption(
      new Option("--timeout-wait <duration>", "how long --wait waits, e.g. 30s, 2m")
        .default(120_000, "2m")
        .argParser(parseDurationFlag),
    );
}

/**
 * The `--timeout` of a function command, in milliseconds, when it was given.
 * commander gives a flag that a parent command also declares to the parent, where
 * it means how long `--wait` waits; for function commands it is the function's
 * timeout, and `--timeout-wait` bounds the wait.
 */
export function functionTimeoutMs(command: Command): number | undefined {
  for (let c: Command | null = command; c; c = c.parent) {
    if (c.getOptionValueSource("timeout") === "cli") {
      const value: unknown = c.getOptionValue("timeout");
      return typeof value === "number" ? value : parseDurationFlag(String(value));
    }
  }
  return undefined;
}

/** The parts of a FunctionSpec that flags set; absent means "leave as it is". */
export interface FunctionChanges {
  handler?: string;
  secrets?: string[];
  env?: Record<string, string>;
  schemaIn?: JsonObject;
  schemaOut?: JsonObject;
  timeout?: Duration;
  minScale?: number;
  maxScale?: number;
  concurrency?: number;
  idleTimeout?: Duration;
}

/** Reads the flags (and the schema files they name) into {@link FunctionChanges}. */
export async function readFunctionChanges(
  app: App,
  flags: FunctionFlags,
  timeoutMs: number | undefined,
): Promise<FunctionChanges> {
  const changes: FunctionChanges = {};
  if (flags.handler !== undefined) changes.handler = flags.handler;
  if (flags.secret !== undefined) changes.secrets = flags.secret;
  if (flags.env !== undefined) changes.env = Object.fromEntries(flags.env);
  if (flags.schemaIn !== undefined)
    changes.schemaIn = parseSchema(await app.readInput(flags.schemaIn), flags.schemaIn);
  if (flags.schemaOut !== undefined)
    changes.schemaOut = parseSchema(await app.readInput(flags.schemaOut), flags.schemaOut);
  if (timeoutMs !== undefined) changes.timeout = toDuration(timeoutMs);
  if (flags.minScale !== undefined) changes.minScale = flags.minScale;
  if (flags.maxScale !== undefined) changes.maxScale = flags.maxScale;
  if (flags.concurrency !== undefined) changes.concurrency = flags.concurrency;
  if (flags.idleTimeout !== undefined) changes.idleTimeout = toDuration(flags.idleTimeout);
  return changes;
}

/** Whether any flag asked for a change. */
export function hasChanges(changes: FunctionChanges): boolean {
  return Object.keys(changes).length > 0;
}

/**
 * Parses a JSON Schema file: any JSON object (the server compiles it).
 *
 * @throws UsageError naming the file when it is not JSON or not an object.
 */
export function parseSchema(text: string, file: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UsageError(`${file} must hold a JSON Schema object, like {"type": "object"}`);
  }
  return value as JsonObject;
}

/**
 * Sets the fields of `spec` that `changes` name, in place. Scale fields change one
 * by one: `--max-scale` keeps the minimum.
 */
export function applyFunctionChanges(spec: FunctionSpec, changes: FunctionChanges): void {
  if (changes.handler !== undefined) spec.handler = changes.handler;
  if (changes.secrets !== undefined) spec.secrets = [...changes.secrets];
  if (changes.env !== undefined) spec.env = { ...changes.env };
  if (changes.schemaIn !== undefined || changes.schemaOut !== undefined) {
    spec.schema ??= create(IoSchemaSchema);
    if (changes.schemaIn !== undefined) spec.schema.in = changes.schemaIn;
    if (changes.schemaOut !== undefined) spec.schema.out = changes.schemaOut;
  }
  if (changes.timeout !== undefined) spec.timeout = changes.timeout;
  const scaled =
    changes.minScale !== undefined ||
    changes.maxScale !== undefined ||
    changes.concurrency !== undefined ||
    changes.idleTimeout !== undefined;
  if (scaled) {
    spec.scale ??= create(ScaleSchema);
    if (changes.minScale !== undefined) spec.scale.min = changes.minScale;
    if (changes.maxScale !== undefined) spec.scale.max = changes.maxScale;
    if (changes.concurrency !== undefined) spec.scale.concurrency = changes.concurrency;
    if (changes.idleTimeout !== undefined) spec.scale.idleTimeout = changes.idleTimeout;
  }
}
