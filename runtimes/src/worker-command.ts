import { fileURLToPath } from "node:url";

/** A function runtime served by a worker in this package. */
export type Runtime = "nodejs" | "python3";

/** How to start a worker: run `command` with `args` (and the `DISPATCH_*` environment). */
export interface WorkerCommand {
  /** The executable: Node's own binary (absolute), or the Python interpreter. */
  command: string;
  /** The worker script, as an absolute path, so any working directory works. */
  args: string[];
}

/**
 * The command that starts a worker for `runtime`. Node runs with the same
 * binary as the caller; Python is `python3` on PATH unless `DISPATCH_PYTHON`
 * names another interpreter.
 *
 * @example
 * const { command, args } = workerCommand("python3");
 * spawn(command, args, { env: { ...env, DISPATCH_PORT: "8080", DISPATCH_HANDLER: "hello.handle" } });
 */
export function workerCommand(runtime: Runtime, env: NodeJS.ProcessEnv = process.env): WorkerCommand {
  switch (runtime) {
    case "nodejs":
      return {
        command: process.execPath,
        args: [fileURLToPath(new URL("./node/worker.js", import.meta.url))],
      };
    case "python3":
      return {
        command: env.DISPATCH_PYTHON || "python3",
        // dist/src/ -> the package root, which ships python/ beside dist/.
        args: [fileURLToPath(new URL("../../python/worker.py", import.meta.url))],
      };
  }
}

/**
 * The runtime a bundle's entry file implies: `.js`, `.mjs` and `.cjs` are
 * `nodejs`, `.py` is `python3`; anything else is undefined.
 */
export function runtimeForFile(filename: string): Runtime | undefined {
  const dot = filename.lastIndexOf(".");
  const extension = dot < 0 ? "" : filename.slice(dot).toLowerCase();
  switch (extension) {
    case ".js":
    case ".mjs":
    case ".cjs":
      return "nodejs";
    case ".py":
      return "python3";
    default:
      return undefined;
  }
}

/**
 * The `DISPATCH_HANDLER` for an entry file when the user names none: the
 * file itself for Node (its default export), `module.handle` for Python.
 *
 * @example
 * defaultHandler("nodejs", "hello.js"); // "hello.js"
 * defaultHandler("python3", "hello.py"); // "hello.handle"
 * defaultHandler("python3", "pkg/hello.py"); // "pkg.hello.handle"
 */
export function defaultHandler(runtime: Runtime, filename: string): string {
  const path = filename.replaceAll("\\", "/").replace(/^\.\//, "");
  switch (runtime) {
    case "nodejs":
      return path;
    case "python3":
      return `${path.replace(/\.py$/i, "").replaceAll("/", ".")}.handle`;
  }
}
