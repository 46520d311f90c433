import { existsSync, realpathSync } from "node:fs";
import { isAbsolute, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { LoadError } from "./config.js";

/** A function's handler: `(context, payload) => result`, sync or async. */
export type Handler = (context: unknown, payload: unknown) => unknown;

/**
 * Imports the handler named by `spec` (`file.js` for the default export or
 * `module.exports`, `file.js:name` for a named export) from `functionDir`.
 * The file is imported from its real location, so the bundle's own
 * `node_modules` resolves as it would for `node file.js`. Throws
 * {@link LoadError} with the runtime's own message.
 */
export async function loadHandler(functionDir: string, spec: string): Promise<Handler> {
  const colon = spec.lastIndexOf(":");
  const file = colon > 0 ? spec.slice(0, colon) : spec;
  const exportName = colon > 0 ? spec.slice(colon + 1) : undefined;
  const path = resolve(functionDir, file);
  const inside = relative(functionDir, path);
  if (inside.startsWith("..") || isAbsolute(inside)) {
    throw new LoadError(`handler "${spec}" is outside the function directory`);
  }
  const real = existsSync(path) ? realpathSync(path) : path;
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(real).href);
  } catch (error) {
    throw await describeImportFailure(error, real, functionDir);
  }
  return pickExport(module, file, exportName);
}

function pickExport(module: Record<string, unknown>, file: string, name: string | undefined): Handler {
  const fallback = module.default as Record<string, unknown> | undefined;
  let candidate: unknown;
  if (name !== undefined) {
    // A CommonJS `exports.name` that Node's static analysis missed is still on `default`.
    candidate = module[name] ?? (isObjectLike(fallback) ? fallback[name] : undefined);
  } else {
    candidate = fallback;
    // CommonJS compiled from ESM (TypeScript, Babel): `exports.default = fn` with `__esModule`.
    if (typeof candidate !== "function" && isObjectLike(fallback) && fallback.__esModule) {
      candidate = fallback.default;
    }
  }
  if (typeof candidate === "function") return candidate as Handler;
  const exports = Object.keys(module).join(", ") || "none";
  const [other] = handlerSpecs(module, file);
  const wayOut =
    other === undefined
      ? `export a function, as the default or named with --handler ${file}:name`
      : `name one with --handler ${other}`;
  throw new LoadError(
    name === undefined
      ? `${file} has no default export (or module.exports) that is a function; its exports: ${exports}; ${wayOut}`
      : `${file} has no export "${name}" that is a function; its exports: ${exports}; ${wayOut}`,
  );
}

/**
 * The handler specs that would load from `module` (CONTRACT.md `DISPATCH_HANDLER`): `file` when
 * the default is a function, then `file:name` for each exported function, CommonJS `exports.name`
 * that Node's static analysis missed included.
 */
function handlerSpecs(module: Record<string, unknown>, file: string): string[] {
  const fallback = module.default;
  const names = new Set(Object.keys(module));
  if (isObjectLike(fallback)) for (const key of Object.keys(fallback)) names.add(key);
  const specs: string[] = [];
  for (const key of names) {
    if (key === "default") {
      const compiled = isObjectLike(fallback)
        ? plainValue(fallback, "__esModule") && plainValue(fallback, "default")
        : undefined;
      if (typeof fallback === "function" || typeof compiled === "function") specs.unshift(file);
    } else if (
      typeof (plainValue(module, key) ?? (isObjectLike(fallback) ? plainValue(fallback, key) : undefined)) ===
      "function"
    ) {
      specs.push(`${file}:${key}`);
    }
  }
  return specs;
}

/**
 * A property's plain value, without running getters: listing what a module
 * exports must not run its code (a getter may throw, or load things).
 */
function plainValue(object: Record<string, unknown>, key: string): unknown {
  try {
    const descriptor = Object.getOwnPropertyDescriptor(object, key);
    return descriptor && "value" in descriptor ? descriptor.value : undefined;
  } catch {
    return undefined;
  }
}

function isObjectLike(value: unknown): value is Record<string, unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null;
}

const ownDir = fileURLToPath(new URL(".", import.meta.url));

async function describeImportFailure(error: unknown, file: string, functionDir: string): Promise<LoadError> {
  if (!(error instanceof Error)) return new LoadError(String(error));
  // Node's message names this worker as the importer; that is noise to the function's author.
  let message = String(error).replace(` imported from ${fileURLToPath(import.meta.url)}`, "");
  let stack = error.stack ?? "";
  let source = sourceLines(stack);
  if (error.name === "SyntaxError" && source.length === 0 && mayStartProcesses()) {
    // An ES module's syntax error carries its file and line only in the text Node prints when
    // it dies of it, so import the file once more in a throwaway process and read that. Under
    // Node's permission model (a worker without a sandbox) there is no such process: the
    // message then goes without its line.
    stack = await syntaxErrorReport(file, functionDir);
    source = sourceLines(stack);
  }
  const location = source[0];
  if (location !== undefined) message += ` (${displayLocation(location, functionDir)})`;
  const frames = stack
    .split("\n")
    .filter(
      (line) => line.startsWith("    at ") && !line.includes("node:internal") && !line.includes(ownDir),
    );
  return new LoadError(message, [...source, message, ...frames]);
}

/** The `file:line`, source and caret lines that head the stack of an error Node decorated. */
function sourceLines(stack: string): string[] {
  const lines = stack.split("\n");
  if (!/^(file:\/\/|\/).*:\d+$/.test(lines[0] ?? "")) return [];
  const blank = lines.indexOf("");
  return lines.slice(0, blank < 0 ? 1 : blank);
}

/** Whether this worker may start a child process (Node's permission model may forbid it). */
function mayStartProcesses(): boolean {
  const permission = (process as { permission?: { has(scope: string): boolean } }).permission;
  return permission === undefined || permission.has("child");
}

async function syntaxErrorReport(file: string, functionDir: string): Promise<string> {
  const { spawnSync } = await import("node:child_process");
  const probe = spawnSync(
    process.execPath,
    ["--input-type=module", "--eval", `await import(${JSON.stringify(pathToFileURL(file).href)})`],
    // A Node start on a loaded machine can take seconds: allow it most of the driver's 30 s
    // start deadline, so the report names the line rather than saying nothing.
    { cwd: functionDir, encoding: "utf8", timeout: 20_000 },
  );
  return probe.stderr ?? "";
}

function displayLocation(location: string, functionDir: string): string {
  const [, where = location, line = ""] = /^(.*)(:\d+)$/.exec(location) ?? [];
  const path = where.startsWith("file://") ? fileURLToPath(where) : where;
  const inside = relative(functionDir, path);
  return (inside.startsWith("..") || isAbsolute(inside) ? path : inside) + line;
}
