import { fileURLToPath } from "node:url";
import { format, inspect } from "node:util";
import type { CallError, CallLogs } from "../contract.js";
import type { Handler } from "./load-handler.js";
import { CallOutput, runCaptured } from "./output-capture.js";

/** One call of the handler, whichever endpoint it came through. */
export interface CallInput {
  payload: unknown;
  secrets: Record<string, string>;
  /** The CloudEvent without `data`, for an event-triggered call. */
  event: unknown;
  /** `{method, path, query, headers}`, for an HTTP-triggered call. */
  http: unknown;
  /** When the call must have answered; null for none. */
  deadline: Date | null;
  /** When the request arrived (ms since the epoch): the deadline's allowance counts from here. */
  receivedAt: number;
  functionName: string;
  runId: string | null;
}

/** How a call ended: the endpoint's reply, or the error, with what the call wrote. */
export type CallResult<R> = { logs: CallLogs; durationMs: number } & (
  | { ok: true; reply: R }
  | { ok: false; error: CallError; timedOut: boolean }
);

/** The longest delay `setTimeout` honours; a later deadline is as good as none. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `handler(context, payload)` with its output captured, racing it
 * against the deadline, and turns its result into the endpoint's reply with
 * `toReply` (which throws when the result cannot be sent, e.g. is not JSON).
 * A thrown error becomes a `FunctionError` (an `InputError` when so named),
 * and a deadline passed a `SystemError`; a result that comes later is dropped.
 */
export async function runCall<R>(
  handler: Handler,
  input: CallInput,
  toReply: (value: unknown) => R,
): Promise<CallResult<R>> {
  const started = performance.now();
  const output = new CallOutput(input.runId ?? "");
  const context = {
    secrets: input.secrets,
    event: input.event,
    http: input.http,
    deadline: input.deadline,
    function: input.functionName,
    runId: input.runId,
    logger: createLogger(output),
  };
  const remainingMs =
    input.deadline === null ? undefined : Math.max(0, input.deadline.getTime() - Date.now());
  let timer: NodeJS.Timeout | undefined;
  type Settled = { kind: "value"; value: unknown } | { kind: "error"; error: unknown } | { kind: "timeout" };
  const settled = await new Promise<Settled>((resolve) => {
    output.fail = (error) => resolve({ kind: "error", error });
    if (remainingMs === 0) return resolve({ kind: "timeout" });
    if (remainingMs !== undefined && remainingMs <= MAX_TIMER_MS) {
      timer = setTimeout(() => resolve({ kind: "timeout" }), remainingMs);
    }
    runCaptured(output, () => {
      try {
        Promise.resolve(handler(context, input.payload)).then(
          (value) => resolve({ kind: "value", value }),
          (error: unknown) => resolve({ kind: "error", error }),
        );
      } catch (error) {
        resolve({ kind: "error", error });
      }
    });
  });
  clearTimeout(timer);

  let result: { ok: true; reply: R } | { ok: false; error: CallError; timedOut: boolean };
  if (settled.kind === "value") {
    try {
      result = { ok: true, reply: toReply(settled.value) };
    } catch (error) {
      result = {
        ok: false,
        error: { type: "FunctionError", message: messageOf(error), stack: [] },
        timedOut: false,
      };
    }
  } else if (settled.kind === "error") {
    const error = describeError(settled.error);
    output.write("stderr", `${stackText(settled.error)}\n`);
    result = { ok: false, error, timedOut: false };
  } else {
    const allowedMs = Math.max(0, (input.deadline?.getTime() ?? 0) - input.receivedAt);
    const message = `timed out after ${formatSeconds(allowedMs)}`;
    result = { ok: false, error: { type: "SystemError", message, stack: [] }, timedOut: true };
  }
  const logs = output.close();
  return { ...result, logs, durationMs: Math.round((performance.now() - started) * 1000) / 1000 };
}

/** `context.logger`: each method writes one line to the call's stdout (warn, error: stderr). */
function createLogger(output: CallOutput) {
  const to =
    (stream: "stdout" | "stderr") =>
    (...args: unknown[]): void => {
      const line = `${format(...args)}\n`;
      if (output.open) output.write(stream, line);
      else process[stream].write(line);
    };
  return { debug: to("stdout"), info: to("stdout"), warn: to("stderr"), error: to("stderr") };
}

const ownDir = fileURLToPath(new URL(".", import.meta.url));
const ownDirUrl = new URL(".", import.meta.url).href;

/**
 * Maps a thrown value to the contract's error (CONTRACT.md "Errors"): `InputError` when so named,
 * else `FunctionError`. The message leads with the error's class unless that is plain `Error` or
 * `InputError` (`TypeError: Cannot read properties of undefined (reading 'name')`, as Python's
 * `KeyError: 'name'`); an empty message is the class alone. A thrown value that is no error is
 * its text: a string as is, anything else as `util.inspect` shows it.
 */
export function describeError(error: unknown): CallError {
  if (typeof error !== "object" || error === null || typeof (error as Error).message !== "string") {
    return { type: "FunctionError", message: thrownValueText(error), stack: [] };
  }
  const { message, stack } = error as Error;
  const input = isInputError(error);
  const name = input ? "InputError" : errorClass(error);
  return {
    type: input ? "InputError" : "FunctionError",
    message:
      message === "" ? name : name === "Error" || name === "InputError" ? message : `${name}: ${message}`,
    stack: typeof stack === "string" ? stackLines(stack) : [],
  };
}

/** An error whose `name` or class (or a class it extends) is `InputError`. */
function isInputError(error: object): boolean {
  if ((error as Error).name === "InputError") return true;
  for (let proto = Object.getPrototypeOf(error); proto !== null; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === "InputError") return true;
  }
  return false;
}

/**
 * The class an error is, in the words its stack uses: its `name`, or, when that is just `Error`
 * (a subclass that sets none), the name of its constructor, as Python names an exception's class.
 */
function errorClass(error: object): string {
  const { name } = error as Error;
  if (typeof name === "string" && name !== "" && name !== "Error") return name;
  return error instanceof Error && error.constructor.name !== "" ? error.constructor.name : "Error";
}

function thrownValueText(value: unknown): string {
  return typeof value === "string" ? value : inspect(value, { breakLength: Number.POSITIVE_INFINITY });
}

/** The stack's lines, without the worker's own frames and Node's internals. */
function stackLines(stack: string): string[] {
  return stack
    .split("\n")
    .filter(
      (line) =>
        line.trim() !== "" &&
        !line.includes("node:internal") &&
        !line.includes(ownDirUrl) &&
        !line.includes(ownDir),
    );
}

function stackText(error: unknown): string {
  if (error instanceof Error && typeof error.stack === "string") return stackLines(error.stack).join("\n");
  return describeError(error).message;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `0.25s`, `1.5s`, `30s`: a deadline in the words a person would use. */
export function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  const digits = seconds < 1 ? 2 : seconds < 10 ? 1 : 0;
  return `${Number(seconds.toFixed(digits))}s`;
}
