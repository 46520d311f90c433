/** A line of a worker's output that the driver acts on. */
export type WorkerLine =
  /** `DISPATCH_READY {"port": N}` on stdout: the worker listens on `port`. */
  | { kind: "ready"; port: number }
  /** `DISPATCH_LOAD_ERROR {"message": ..., "stack": [...]}` on stderr: the handler did not load. */
  | { kind: "load-error"; message: string; stack: string[] };

const READY = "DISPATCH_READY ";
const LOAD_ERROR = "DISPATCH_LOAD_ERROR ";

/**
 * Recognises the two lines a worker writes about itself; any other line is
 * the function's own output and gives undefined. A `DISPATCH_LOAD_ERROR`
 * whose JSON does not parse still counts, with the raw text as its message,
 * so the reason reaches the function's status.
 *
 * @example
 * parseWorkerLine('DISPATCH_READY {"port": 8080}'); // { kind: "ready", port: 8080 }
 */
export function parseWorkerLine(line: string): WorkerLine | undefined {
  const text = line.trim();
  if (text.startsWith(READY)) {
    const port = parseJson(text.slice(READY.length))?.port;
    return Number.isInteger(port) && (port as number) > 0 && (port as number) < 65536
      ? { kind: "ready", port: port as number }
      : undefined;
  }
  if (text.startsWith(LOAD_ERROR)) {
    const raw = text.slice(LOAD_ERROR.length).trim();
    const fields = parseJson(raw);
    const message = typeof fields?.message === "string" ? fields.message : raw;
    const stack = Array.isArray(fields?.stack) ? fields.stack.filter((l) => typeof l === "string") : [];
    return { kind: "load-error", message, stack };
  }
  return undefined;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
