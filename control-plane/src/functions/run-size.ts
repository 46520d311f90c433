import { create, type JsonValue, toBinary } from "@bufbuild/protobuf";
import { LogsSchema, type Run, RunSchema } from "@dispatch/proto";
import { formatBytes } from "./limits.js";

/**
 * How much of a run record a call's input and its output may each take:
 * three eighths of the record, so that both at their largest still leave a
 * quarter of it for logs, error and the rest of the record.
 */
export interface RunBudget {
  /** Largest encoded run record: the server's max_payload less room for headers. */
  record: number;
  input: number;
  output: number;
  /** The server's max_payload it was derived from, for messages. */
  maxPayload: number;
}

/** The budget of a run record for a NATS server whose max_payload is `maxPayload` (1 MiB by default). */
export function runBudget(maxPayload: number): RunBudget {
  const record = Math.max(4096, maxPayload - 1024);
  const share = Math.floor((record * 3) / 8);
  return { record, input: share, output: share, maxPayload };
}

/**
 * The size of a JSON value encoded as a `google.protobuf.Value`, as it is
 * stored in a run record, computed without encoding it.
 */
export function valueSize(value: JsonValue): number {
  // Value is a oneof: the member is always written (tag, then payload).
  if (value === null || typeof value === "boolean") return 2;
  if (typeof value === "number") return 9;
  if (typeof value === "string") return field(Buffer.byteLength(value));
  if (Array.isArray(value)) {
    let list = 0;
    for (const item of value) list += field(valueSize(item));
    return field(list);
  }
  let struct = 0;
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    struct += field(field(Buffer.byteLength(key)) + field(valueSize(item)));
  }
  return field(struct);
}

/** A length-delimited field of `size` bytes: one tag byte, the length varint, the bytes. */
function field(size: number): number {
  let varint = 1;
  for (let n = size; n >= 0x80; n = Math.floor(n / 0x80)) varint++;
  return 1 + varint + size;
}

/**
 * Encodes a run record that fits `maxBytes`, changing the run to what is
 * stored when the whole does not fit: logs keep their last lines after a
 * marker line, then error texts are shortened, then the output (or a reply
 * event's data) and the input (or an event's data) are left out, each saying
 * so in `status.reason`. Throws only if a record without any of these still
 * does not fit.
 */
export function encodeRun(run: Run, maxBytes: number): Uint8Array {
  let bytes = toBinary(RunSchema, run);
  if (bytes.length <= maxBytes) return bytes;
  const status = run.status;
  const limit = `a run record holds at most ${formatBytes(maxBytes)}`;
  if (status?.logs) {
    const logs = status.logs;
    const logBytes = linesSize(logs.stdout) + linesSize(logs.stderr);
    // Room for the markers and each line's own framing.
    const keep = Math.max(0, logBytes - (bytes.length - maxBytes) - 1024);
    status.logs = create(LogsSchema, truncateLogs(logs.stdout, logs.stderr, keep, limit));
    bytes = toBinary(RunSchema, run);
    if (bytes.length <= maxBytes) return bytes;
  }
  if (status) {
    const cut = (text: string) => shorten(text, 4096);
    if (status.error) {
      status.error.message = cut(status.error.message);
      status.error.stack = keepLast(status.error.stack, 4096, "stack lines", limit);
    }
    status.reason = status.reason.map(cut);
    bytes = toBinary(RunSchema, run);
    if (bytes.length <= maxBytes) return bytes;
    if (status.output) {
      status.output = undefined;
      status.reason.push(`the output was left out: ${limit}`);
      bytes = toBinary(RunSchema, run);
      if (bytes.length <= maxBytes) return bytes;
    }
    if (status.reply && status.reply.data.case !== undefined) {
      status.reply.data = { case: undefined };
      status.reason.push(`the reply event's data was left out: ${limit}`);
      bytes = toBinary(RunSchema, run);
      if (bytes.length <= maxBytes) return bytes;
    }
  }
  if (run.spec?.input) {
    run.spec.input = undefined;
    status?.reason.push(`the input was left out: ${limit}`);
    bytes = toBinary(RunSchema, run);
    if (bytes.length <= maxBytes) return bytes;
  }
  if (run.spec?.event && run.spec.event.data.case !== undefined) {
    run.spec.event.data = { case: undefined };
    status?.reason.push(`the event's data was left out: ${limit}`);
    bytes = toBinary(RunSchema, run);
    if (bytes.length <= maxBytes) return bytes;
  }
  throw new Error(`a run record of ${bytes.length} bytes does not fit in ${maxBytes} bytes`);
}

/**
 * A call's stdout and stderr cut to about `budget` bytes in all, each keeping
 * its last lines after a marker that says what was left out. A stream that
 * needs less than half leaves the rest to the other.
 */
export function truncateLogs(
  stdout: readonly string[],
  stderr: readonly string[],
  budget: number,
  why: string,
): { stdout: string[]; stderr: string[] } {
  const outSize = linesSize(stdout);
  const errSize = linesSize(stderr);
  if (outSize + errSize <= budget) return { stdout: [...stdout], stderr: [...stderr] };
  const half = Math.floor(budget / 2);
  const outBudget = errSize < half ? budget - errSize : Math.min(outSize, half);
  return {
    stdout: keepLast(stdout, outBudget, "lines", why),
    stderr: keepLast(stderr, budget - Math.min(outBudget, outSize), "lines", why),
  };
}

/** The last lines within `budget` bytes, after a marker line when any were left out. */
function keepLast(lines: readonly string[], budget: number, what: string, why: string): string[] {
  if (linesSize(lines) <= budget) return [...lines];
  const kept: string[] = [];
  let used = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? "";
    const size = Buffer.byteLength(line) + 3;
    if (used + size > budget) {
      // The last line alone is too long: keep its end.
      if (kept.length === 0 && budget > 64) {
        kept.unshift(
          `…${Buffer.from(line)
            .subarray(-(budget - 64))
            .toString("utf8")}`,
        );
      }
      break;
    }
    kept.unshift(line);
    used += size;
  }
  const dropped = lines.length - kept.length;
  const droppedBytes = linesSize(lines) - linesSize(kept);
  return [`[… ${dropped} earlier ${what} (${formatBytes(droppedBytes)}) left out: ${why}]`, ...kept];
}

/** Bytes of lines as repeated string fields (about: tag and length per line). */
function linesSize(lines: readonly string[]): number {
  let n = 0;
  for (const line of lines) n += Buffer.byteLength(line) + 3;
  return n;
}

function shorten(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  const head = Buffer.from(text)
    .subarray(0, max - 64)
    .toString("utf8");
  return `${head}… (${Buffer.byteLength(text) - Buffer.byteLength(head)} more bytes left out)`;
}
