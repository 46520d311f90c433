import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The control plane's production entry point, `bin/dispatch-control-plane.js`. */
export const bin = fileURLToPath(new URL("../../bin/dispatch-control-plane.js", import.meta.url));

/** A control plane started as a process of its own. */
export interface Running {
  child: ChildProcess;
  /** What it wrote so far (stdout and stderr). */
  output(): string;
  exited: Promise<number | null>;
  /** Resolves with the output once it holds `text`; rejects if the process exits first. */
  printed(text: string | RegExp): Promise<string>;
}

/** Starts `dispatch-control-plane` with `args` and `env`, collecting what it writes. */
export function launch(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of [...listeners]) listener();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    printed: (text) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (typeof text === "string" ? output.includes(text) : text.test(output)) {
            listeners.delete(check);
            resolve(output);
          }
        };
        listeners.add(check);
        check();
        void exited.then((code) =>
          reject(new Error(`it exited (${code}) before printing ${text}:\n${output}`)),
        );
      }),
  };
}
