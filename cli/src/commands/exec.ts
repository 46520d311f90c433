import { create, fromJson, type JsonValue } from "@bufbuild/protobuf";
import { durationMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import { RunSchema, Trigger } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { parseRunInput } from "../functions/run-input.js";
import { kindByWord } from "../kinds/index.js";
import { objectJson, renderJson } from "../output/format.js";
import { examples } from "./shared.js";

/** The call deadline of a function whose spec sets none (the server's default). */
const defaultFunctionTimeoutMs = 30_000;

interface ExecFlags {
  input?: string;
  inputFile?: string;
  secret?: string[];
  async?: boolean;
  wait?: boolean;
}

/**
 * `dispatch exec FUNCTION`: runs a function (RunService.Create) and prints the Run
 * as JSON, whatever -o says, as Dispatch v1 did. A run that fails is still a run:
 * its error is in the JSON and the exit status is 0; only a failed call (no such
 * function, no connection) exits 1.
 */
export function createExecCommand(app: App): Command {
  const command = new Command("exec")
    .description(
      "Run a function and print the run as JSON (status.output, status.error, status.logs). " +
        "Waits for the result unless --async: as long as the function's timeout, plus --request-timeout " +
        "for starting an instance and answering. Exit status 0 even when the function failed: " +
        "the failure is in the run.",
    )
    .argument("<function>", "the function to run")
    .option("--input <json>", "the input, any JSON value (default {})")
    .option("--input-file <file>", 'read the input from a JSON file ("-" reads stdin)')
    .option(
      "--secret <name>",
      "a secret for this run, merged after the function's own (repeatable, later wins)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--async", 'print {"run": ID} at once instead of waiting for the result')
    .option("--wait", "wait for the result (the default)");
  command.action(async (name: string, flags: ExecFlags, cmd: Command) => {
    if (flags.input !== undefined && flags.inputFile !== undefined) {
      throw new UsageError("give --input or --input-file, not both");
    }
    if (flags.async && flags.wait) throw new UsageError("give --async or --wait, not both");
    const input: JsonValue =
      flags.inputFile !== undefined
        ? parseRunInput(await app.readInput(flags.inputFile), flags.inputFile)
        : parseRunInput(flags.input ?? "{}", "--input");

    const session = await app.session(cmd);
    const kind = kindByWord("run");
    const org = session.orgFor(kind);
    // A call waits as long as the function may run (its own timeout), plus
    // the request timeout as a margin for starting an instance and answering.
    let timeoutMs = session.settings.requestTimeoutMs;
    if (!flags.async) {
      const { function: fn } = await session.clients.functions.get({ org, name });
      const own = fn?.spec?.timeout;
      timeoutMs += own ? durationMs(own) : defaultFunctionTimeoutMs;
    }
    const { run } = await session.clients.runs.create(
      {
        run: create(RunSchema, {
          meta: { org },
          spec: {
            function: name,
            input: fromJson(ValueSchema, input),
            secrets: flags.secret ?? [],
            trigger: Trigger.EXEC,
            async: flags.async === true,
          },
        }),
      },
      { timeoutMs },
    );
    if (!run) throw new CommandError("the server's response has no run");
    if (flags.async) {
      const id = run.meta?.name ?? "";
      session.io.stdout(renderJson({ run: id, function: name }));
      if (session.io.stderrIsTTY) session.io.stderr(`see it with: dispatch get runs ${name} ${id}\n`);
      return;
    }
    session.io.stdout(renderJson(objectJson(kind, run)));
  });
  return examples(command, [
    `dispatch exec hello --input '{"name": "Jon", "place": "Winterfell"}'`,
    "dispatch exec hello --input 42",
    "dispatch exec hello --input-file input.json --secret open-sesame",
    "dispatch exec hello --async && dispatch get runs hello --last",
    "dispatch exec hello | jq .status.output",
  ]);
}
