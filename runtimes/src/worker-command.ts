import { spawnSync } from "node:child_process";
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
 * binary as the caller; Python is `DISPATCH_PYTHON` when set, else the real
 * interpreter behind `python3` on PATH (asked once: version-manager shims such
 * as pyenv's add tens of milliseconds to every start).
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
        command: env.DISPATCH_PYTHON || python3(),
        // dist/src/ -> the package root, which ships python/ beside dist/.
        args: [fileURLToPath(new URL("../../python/worker.py", import.meta.url))],
      };
  }
}

/**
 * The directory of this package (holding `dist/src/node/worker.js` and
 * `python/worker.py`): what a sandbox must show a worker, and nothing else of
 * the installation.
 */
export const runtimesDir: string = fileURLToPath(new URL("../../", import.meta.url));

let resolvedPython: string | undefined;

/** The interpreter `python3` on PATH runs (sys.executable), or "python3" when it cannot be asked. */
function python3(): string {
  if (resolvedPython === undefined) {
    const answer = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], {
      encoding: "utf8",
      timeout: 5000,
    });
    const path = answer.status === 0 ? answer.stdout.trim() : "";
    resolvedPython = path.startsWith("/") ? path : "python3";
  }
  return resolvedPython;
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
