import { toJson } from "@bufbuild/protobuf";
import { LogLineSchema } from "@dispatch/proto";
import { Command, InvalidArgumentError } from "commander";
import type { App } from "../app.js";
import { kindByWord } from "../kinds/index.js";
import { renderRecord } from "../output/format.js";
import { formatLogLine } from "../output/log-line.js";
import { examples } from "./shared.js";

interface LogsFlags {
  follow?: boolean;
  tail?: number;
  raw?: boolean;
}

/**
 * `dispatch logs FUNCTION`: what the function's instances wrote (LogService.Tail),
 * recent lines first, then with `--follow` new lines until Ctrl-C.
 */
export function createLogsCommand(app: App): Command {
  const command = new Command("logs")
    .description(
      "Print what a function wrote to stdout and stderr, one line each: time, instance, stream, " +
        "[run id] and text. -f keeps printing new lines until Ctrl-C; -o json prints JSON lines.",
    )
    .argument("<function>", "the function whose output to print")
    .option("-f, --follow", "keep printing new lines as they are written, until Ctrl-C")
    .option("--tail <n>", "how many recent lines to print first (default 100)", parseTail)
    .option("--raw", "print only the text of each line");
  command.action(async (name: string, flags: LogsFlags, cmd: Command) => {
    const session = await app.session(cmd);
    const format = session.settings.output;
    const follow = flags.follow === true;
    const signal = follow ? session.io.interrupted() : undefined;
    try {
      const stream = session.clients.logs.tail(
        { org: session.orgFor(kindByWord("function")), function: name, follow, tail: flags.tail ?? 0 },
        // A follow lasts until Ctrl-C: no request timeout.
        signal ? { signal, timeoutMs: 0 } : {},
      );
      let printed = 0;
      for await (const { line } of stream) {
        if (!line) continue;
        printed++;
        session.io.stdout(
          format === "table"
            ? formatLogLine(line, flags.raw === true)
            : renderRecord(format, toJson(LogLineSchema, line)),
        );
      }
      if (printed === 0 && format === "table") {
        session.io.stderr(`No log lines of function "${name}" found.\n`);
      }
    } catch (err) {
      // Ctrl-C ends a follow; that is how it is meant to end.
      if (signal?.aborted) return;
      throw err;
    }
  });
  return examples(command, [
    "dispatch logs hello",
    "dispatch logs hello -f",
    "dispatch logs hello --tail 20 --raw",
    "dispatch logs hello -o json | jq -r .text",
  ]);
}

function parseTail(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 0xffffffff) {
    throw new InvalidArgumentError("use a whole number, 1 or more.");
  }
  return Number(value);
}
