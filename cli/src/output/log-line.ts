import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type LogLine, LogStream } from "@dispatch/proto";

/**
 * A log line as `dispatch logs` prints it:
 * `<time> <instance> <stream> [<run id>] <text>`, the run id only for lines
 * written during a run; with `raw`, the text alone.
 *
 * @example
 * formatLogLine(line, false);
 * // "2026-01-02T03:04:05.120Z hello-1 stdout [0b7c6e4a-…] Hello, Jon\n"
 */
export function formatLogLine(line: LogLine, raw: boolean): string {
  if (raw) return `${line.text}\n`;
  const time = line.time ? timestampDate(line.time).toISOString() : "-";
  const stream = line.stream === LogStream.UNSPECIFIED ? "-" : (LogStream[line.stream] ?? "-").toLowerCase();
  const run = line.runId ? ` [${line.runId}]` : "";
  return `${time} ${line.instance || "-"} ${stream}${run} ${line.text}\n`;
}
