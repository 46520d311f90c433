import { AsyncLocalStorage } from "node:async_hooks";
import type { CallLogs } from "../contract.js";

/**
 * What one call writes to stdout and stderr. Writes made in the call's async
 * context land here while it is open; once the call has answered, they go to
 * the worker's own streams again (a timer the handler left behind, say).
 */
export class CallOutput {
  readonly #stdout: (string | Uint8Array)[] = [];
  readonly #stderr: (string | Uint8Array)[] = [];
  readonly #pending = { stdout: "", stderr: "" };
  #open = true;

  /**
   * @param runId When set, each line is also echoed at once to the worker's own
   *   stream as `[<runId>] <line>`, so `dispatch logs -f` shows it as it happens.
   */
  constructor(readonly runId = "") {}
  /** Fails the call from outside its promise chain (an uncaught error in its context). */
  fail: (error: unknown) => void = () => {};

  get open(): boolean {
    return this.#open;
  }

  /** Appends to the call's stdout or stderr. */
  write(stream: "stdout" | "stderr", chunk: string | Uint8Array): void {
    (stream === "stdout" ? this.#stdout : this.#stderr).push(chunk);
    if (this.runId === "" || !echo) return;
    const text =
      this.#pending[stream] + (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
    const parts = text.split(/\r?\n/);
    this.#pending[stream] = parts.pop() ?? "";
    for (const line of parts) echo[stream](`[${this.runId}] ${line}\n`);
  }

  /** Closes the call and returns what it wrote, split into lines. */
  close(): CallLogs {
    this.#open = false;
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#pending[stream] !== "" && echo) echo[stream](`[${this.runId}] ${this.#pending[stream]}\n`);
      this.#pending[stream] = "";
    }
    return { stdout: lines(this.#stdout), stderr: lines(this.#stderr) };
  }
}

const storage = new AsyncLocalStorage<CallOutput>();

/** Runs `fn` (and everything it starts) with its output captured in `output`. */
export function runCaptured<T>(output: CallOutput, fn: () => T): T {
  return storage.run(output, fn);
}

/** The call whose async context is running, if it is still open. */
export function currentCall(): CallOutput | undefined {
  const output = storage.getStore();
  return output?.open ? output : undefined;
}

/** The worker's own stdout and stderr, bypassing capture. */
export interface WorkerStreams {
  stdout(text: string): void;
  stderr(text: string): void;
}

/**
 * Patches `process.stdout.write` and `process.stderr.write` (once) so that a
 * write made inside a call goes to that call's {@link CallOutput}. `console.*`
 * writes through them too. Returns writers for the worker's own streams.
 */
export function installOutputCapture(): WorkerStreams {
  const stdout = patch(process.stdout, "stdout");
  const stderr = patch(process.stderr, "stderr");
  echo = { stdout: (text) => void stdout(text), stderr: (text) => void stderr(text) };
  return echo;
}

/** The worker's own streams, once capture is installed (calls echo their lines there). */
let echo: WorkerStreams | undefined;

type Write = (
  chunk: string | Uint8Array,
  encoding?: BufferEncoding,
  callback?: (err?: Error | null) => void,
) => boolean;

function patch(stream: NodeJS.WriteStream, name: "stdout" | "stderr"): Write {
  const original = stream.write.bind(stream) as Write;
  const write = (
    chunk: string | Uint8Array,
    encoding?: BufferEncoding | ((err?: Error | null) => void),
    callback?: (err?: Error | null) => void,
  ): boolean => {
    const output = currentCall();
    if (output === undefined) {
      return typeof encoding === "function"
        ? original(chunk, undefined, encoding)
        : original(chunk, encoding, callback);
    }
    const bytesOrText =
      typeof chunk === "string" && typeof encoding === "string" && encoding !== "utf8" && encoding !== "utf-8"
        ? Buffer.from(chunk, encoding)
        : chunk;
    output.write(name, bytesOrText);
    const done = typeof encoding === "function" ? encoding : callback;
    if (done) process.nextTick(done);
    return true;
  };
  stream.write = write as typeof stream.write;
  return original;
}

function lines(chunks: (string | Uint8Array)[]): string[] {
  if (chunks.length === 0) return [];
  const text = chunks.every((c) => typeof c === "string")
    ? chunks.join("")
    : Buffer.concat(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c))).toString("utf8");
  const split = text.split(/\r?\n/);
  if (split.at(-1) === "") split.pop();
  return split;
}
