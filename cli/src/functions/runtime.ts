import { basename, extname } from "node:path";
import { type FunctionRuntime, functionRuntimes, isFunctionRuntime } from "@dispatch/proto";
import { UsageError } from "../errors.js";

/** File extensions that tell a runtime, in the order messages list them. */
const EXTENSIONS: readonly (readonly [string, FunctionRuntime])[] = [
  [".js", "nodejs"],
  [".mjs", "nodejs"],
  [".cjs", "nodejs"],
  [".py", "python3"],
];

/** `.js, .mjs, .cjs: nodejs; .py: python3`, for messages. */
const EXTENSION_HELP = functionRuntimes
  .map(
    (r) =>
      `${EXTENSIONS.filter(([, runtime]) => runtime === r)
        .map(([ext]) => ext)
        .join(", ")}: ${r}`,
  )
  .join("; ");

/**
 * The runtime a file's extension tells, if any.
 *
 * @example
 * runtimeOfFile("hello.mjs"); // "nodejs"
 * runtimeOfFile("README.md"); // undefined
 */
export function runtimeOfFile(name: string): FunctionRuntime | undefined {
  const ext = extname(name).toLowerCase();
  return EXTENSIONS.find(([e]) => e === ext)?.[1];
}

/**
 * How problems name the runtime and handler: the flags of `create function`, or the
 * spec fields of a manifest.
 */
export interface SettingNames {
  runtime: string;
  handler: string;
}

/** The names used by `create function` and `update function`. */
export const FLAG_NAMES: SettingNames = { runtime: "--runtime", handler: "--handler" };

/** What a function's code path is, as far as the runtime is concerned. */
export interface BundleShape {
  /** The path as the user wrote it, for messages. */
  path: string;
  kind: "file" | "directory";
  /** For a directory: its regular files, relative and "/"-separated. */
  files: readonly string[];
}

/** The runtime and handler the user gave, if any. */
export interface RuntimeHints {
  runtime?: string | undefined;
  handler?: string | undefined;
}

/**
 * Decides a function's runtime. In order:
 *
 * 1. the runtime given (which must be one of {@link functionRuntimes});
 * 2. for a file, its extension;
 * 3. for a directory, the extension of the file the handler names (Node handlers
 *    name a file: `lib/hello.js`, `hello.mjs:greet`), else the only kind of source
 *    file the directory holds (`node_modules` is not counted).
 *
 * Pure: the caller lists the directory.
 *
 * @throws UsageError naming the valid runtimes when none can be decided.
 * @example
 * inferRuntime({ path: "hello.py", kind: "file", files: [] }, {}); // "python3"
 */
export function inferRuntime(shape: BundleShape, hints: RuntimeHints, names = FLAG_NAMES): FunctionRuntime {
  const use = `give ${names.runtime} ${functionRuntimes.join(` or ${names.runtime} `)}`;
  if (hints.runtime !== undefined && hints.runtime !== "") {
    if (isFunctionRuntime(hints.runtime)) return hints.runtime;
    throw new UsageError(
      `runtime "${hints.runtime}" is not supported (use ${functionRuntimes.join(" or ")})`,
    );
  }
  if (shape.kind === "file") {
    const runtime = runtimeOfFile(shape.path);
    if (runtime) return runtime;
    const ext = extname(shape.path);
    const what = ext ? `"${ext}" is not a known extension` : `"${basename(shape.path)}" has no extension`;
    throw new UsageError(`cannot tell the runtime of ${shape.path}: ${what} (${EXTENSION_HELP}); ${use}`);
  }
  const handlerFile = hints.handler?.split(":")[0];
  const fromHandler = handlerFile ? runtimeOfFile(handlerFile) : undefined;
  if (fromHandler) return fromHandler;
  const found = new Map<FunctionRuntime, string>();
  for (const file of shape.files) {
    if (file.split("/").includes("node_modules")) continue;
    const runtime = runtimeOfFile(file);
    if (runtime && !found.has(runtime)) found.set(runtime, extname(file).toLowerCase());
  }
  const [only, ...others] = [...found.keys()];
  if (only && others.length === 0) return only;
  if (!only) {
    const exts = EXTENSIONS.map(([e]) => e);
    throw new UsageError(
      `cannot tell the runtime of ${shape.path}: it holds no ${exts.slice(0, -1).join(", ")} or ${exts.at(-1)} files; ${use}`,
    );
  }
  const kinds = [...found].map(([runtime, ext]) => `${runtime} (${ext})`).join(" and ");
  throw new UsageError(`cannot tell the runtime of ${shape.path}: it holds ${kinds} files; ${use}`);
}

/**
 * A directory bundle needs a handler: there is no file to default it from.
 *
 * @throws UsageError when `shape` is a directory and `handler` is empty.
 */
export function requireHandler(shape: BundleShape, handler: string | undefined, names = FLAG_NAMES): void {
  if (shape.kind === "file" || (handler !== undefined && handler !== "")) return;
  throw new UsageError(
    `${shape.path} is a directory: name the handler with ${names.handler} ` +
      "(nodejs: the file, e.g. hello.js; python3: module.function, e.g. hello.handle)",
  );
}
