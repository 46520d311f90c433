import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { UsageError } from "./errors.js";
import { parseDuration } from "./output/time.js";

/** Where one Dispatch installation lives and how to authenticate to it. */
export interface Context {
  /** Base URL of the control plane API, e.g. `http://127.0.0.1:8080`. */
  server: string;
  /** Bearer token sent with every request. */
  token: string;
  /** Default org for commands run in this context; empty means the token's org. */
  org?: string;
}

/** The CLI config file: named contexts and which one is current. */
export interface Config {
  /** Name of the context used when neither `--context` nor `DISPATCH_CONTEXT` is set. */
  current?: string;
  contexts: Record<string, Context>;
}

/** The server used when nothing names one: what `dispatch up` serves by default. */
export const DEFAULT_SERVER = "http://127.0.0.1:8080";

/** How long a request may take unless `--request-timeout` or `DISPATCH_REQUEST_TIMEOUT` says otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Output formats every command understands. */
export const OUTPUT_FORMATS = ["table", "json", "yaml"] as const;

/** One of {@link OUTPUT_FORMATS}. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/**
 * The config file path: `$DISPATCH_CONFIG` if set, else `~/.dispatch/config.json`.
 * `--config` beats both; callers pass it as `flag`.
 */
export function configPath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.DISPATCH_CONFIG || join(homedir(), ".dispatch", "config.json");
}

/**
 * Reads the config file. A missing file is an empty config; a file that is not a
 * config is a {@link UsageError} naming the file.
 *
 * @param path defaults to {@link configPath}().
 */
export async function loadConfig(path: string = configPath()): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { contexts: {} };
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, path);
}

function parseConfig(raw: unknown, path: string): Config {
  const bad = (what: string) => new UsageError(`config file ${path}: ${what}`);
  if (!isRecord(raw)) throw bad("expected a JSON object");
  const config: Config = { contexts: {} };
  if (raw.current !== undefined) {
    if (typeof raw.current !== "string") throw bad('"current" must be a string');
    config.current = raw.current;
  }
  const contexts = raw.contexts ?? {};
  if (!isRecord(contexts)) throw bad('"contexts" must be an object');
  for (const [name, value] of Object.entries(contexts)) {
    if (!isRecord(value)) throw bad(`context "${name}" must be an object`);
    const { server, token, org } = value;
    if (typeof server !== "string") throw bad(`context "${name}" has no "server" string`);
    if (token !== undefined && typeof token !== "string")
      throw bad(`context "${name}": "token" must be a string`);
    if (org !== undefined && typeof org !== "string") throw bad(`context "${name}": "org" must be a string`);
    const context: Context = { server, token: token ?? "" };
    if (org) context.org = org;
    config.contexts[name] = context;
  }
  return config;
}

/**
 * Writes the config file atomically with mode 0600 (it holds tokens), creating its
 * directory with mode 0700.
 */
export async function saveConfig(config: Config, path: string = configPath()): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only to new files; a leftover tmp file keeps its mode.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** Options for {@link saveContext}. */
export interface SaveContextOptions {
  /** Also make this the current context. */
  makeCurrent: boolean;
  /** Defaults to {@link configPath}(). */
  configPath?: string;
}

/**
 * Adds or replaces one context in the config file, keeping the others.
 *
 * @example
 * await saveContext("local", { server: "http://127.0.0.1:8080", token, org: "default" }, { makeCurrent: true });
 */
export async function saveContext(
  name: string,
  context: Context,
  options: SaveContextOptions,
): Promise<void> {
  const path = options.configPath ?? configPath();
  const config = await loadConfig(path);
  const entry: Context = { server: context.server, token: context.token };
  if (context.org) entry.org = context.org;
  config.contexts[name] = entry;
  if (options.makeCurrent || config.current === undefined) config.current = name;
  await saveConfig(config, path);
}

/** The global flags as commander parsed them (all optional). */
export interface GlobalFlags {
  config?: string;
  context?: string;
  server?: string;
  token?: string;
  org?: string;
  output?: string;
  requestTimeout?: string;
}

/** Where the token a command sends came from, so an error about it can say where to fix it. */
export type TokenSource =
  | { kind: "flag" }
  | { kind: "env" }
  | { kind: "context"; context: string; path: string }
  | { kind: "none" };

/** A token source in words: `--token`, `DISPATCH_TOKEN`, `context "local" in ~/.dispatch/config.json`. */
export function describeTokenSource(source: TokenSource): string {
  switch (source.kind) {
    case "flag":
      return "the --token flag";
    case "env":
      return "the environment variable DISPATCH_TOKEN";
    case "context":
      return `context "${source.context}" in ${source.path}`;
    case "none":
      return "nowhere (no token is configured)";
  }
}

/** What a command needs to talk to Dispatch, after flags, env and config are merged. */
export interface Settings {
  server: string;
  token: string;
  org: string;
  output: OutputFormat;
  /** Where `token` came from. */
  tokenSource: TokenSource;
  /** How long one request may take (watches and follows are not bounded by it). */
  requestTimeoutMs: number;
  /** The context that was used, if any. */
  contextName?: string;
  configPath: string;
}

/**
 * Merges the global flags, `DISPATCH_*` environment variables and the selected
 * context. A flag beats its env var, which beats the context; the context itself is
 * chosen by `--context`, then `DISPATCH_CONTEXT`, then the config's `current`.
 *
 * Pure: it reads only its arguments.
 */
export function resolveSettings(
  flags: GlobalFlags,
  env: NodeJS.ProcessEnv,
  config: Config,
  path: string,
): Settings {
  const pick = (flag: string | undefined, envName: string): string | undefined =>
    flag || env[envName] || undefined;
  const contextName = pick(flags.context, "DISPATCH_CONTEXT") ?? config.current;
  let context: Context | undefined;
  if (contextName !== undefined) {
    context = config.contexts[contextName];
    const explicit = pick(flags.context, "DISPATCH_CONTEXT") !== undefined;
    if (!context && explicit) {
      const known = Object.keys(config.contexts);
      throw new UsageError(
        `context "${contextName}" is not in ${path}` +
          (known.length > 0 ? ` (known: ${known.join(", ")})` : ' (create it with "dispatch context set")'),
      );
    }
  }
  const output = pick(flags.output, "DISPATCH_OUTPUT") ?? "table";
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    throw new UsageError(`output format "${output}" is not supported (use ${OUTPUT_FORMATS.join(", ")})`);
  }
  const timeoutText = pick(flags.requestTimeout, "DISPATCH_REQUEST_TIMEOUT");
  let requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;
  if (timeoutText !== undefined) {
    const ms = parseDuration(timeoutText);
    if (ms === undefined || ms <= 0) {
      const from = flags.requestTimeout ? "--request-timeout" : "DISPATCH_REQUEST_TIMEOUT";
      throw new UsageError(`${from} "${timeoutText}" is not a duration (use e.g. 10s, 2m)`);
    }
    requestTimeoutMs = ms;
  }
  const token = pick(flags.token, "DISPATCH_TOKEN");
  const tokenSource: TokenSource = flags.token
    ? { kind: "flag" }
    : token !== undefined
      ? { kind: "env" }
      : context?.token && contextName !== undefined
        ? { kind: "context", context: contextName, path }
        : { kind: "none" };
  const settings: Settings = {
    server: pick(flags.server, "DISPATCH_SERVER") ?? context?.server ?? DEFAULT_SERVER,
    token: token ?? context?.token ?? "",
    org: pick(flags.org, "DISPATCH_ORG") ?? context?.org ?? "",
    output: output as OutputFormat,
    tokenSource,
    requestTimeoutMs,
    configPath: path,
  };
  if (context && contextName !== undefined) settings.contextName = contextName;
  return settings;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
