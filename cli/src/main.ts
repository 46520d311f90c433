import { Command, CommanderError, Option } from "commander";
import { type App, createApp, type Io, processIo } from "./app.js";
import { createApplyCommand } from "./commands/apply.js";
import { createCompletionCommand } from "./commands/completion.js";
import { createContextCommand } from "./commands/context.js";
import { createCreateCommand } from "./commands/create.js";
import { createRedeliverCommand } from "./commands/dead-letters.js";
import { createDeleteCommand } from "./commands/delete.js";
import { createEmitCommand } from "./commands/emit.js";
import { createExecCommand } from "./commands/exec.js";
import { createGetCommand } from "./commands/get.js";
import { createInstallCommands } from "./commands/install.js";
import { createLogsCommand } from "./commands/logs.js";
import { examples } from "./commands/shared.js";
import { createStatusCommand } from "./commands/status.js";
import { createUpdateCommand } from "./commands/update.js";
import { createVersionCommand } from "./commands/version.js";
import { createWhoAmICommand } from "./commands/whoami.js";
import { DEFAULT_SERVER, describeTokenSource, OUTPUT_FORMATS } from "./config.js";
import { describeFailure, formatFailure } from "./output/failure.js";
import { createUpCommand } from "./up/command.js";
import { clientVersion } from "./version.js";

/**
 * Builds the `dispatch` command tree. Every command reports to `app.io` and throws
 * on failure; {@link run} turns that into an exit status.
 */
export function createProgram(app: App): Command {
  const program = new Command("dispatch")
    .description(
      "Dispatch: functions, HTTP APIs and events on one platform. Talks to a running Dispatch over Connect.",
    )
    .version(clientVersion(), "--version", "print the CLI version (see also: dispatch version)")
    .option("--config <file>", "config file (env DISPATCH_CONFIG; default ~/.dispatch/config.json)")
    .option("--context <name>", "use this saved context (env DISPATCH_CONTEXT; default: the current one)")
    .option(
      "--server <url>",
      `the Dispatch API URL (env DISPATCH_SERVER; default from the context, or ${DEFAULT_SERVER})`,
    )
    .option("--token <token>", "bearer token (env DISPATCH_TOKEN; default from the context)")
    .option(
      "--org <org>",
      "organization to work in (env DISPATCH_ORG; default from the context, or the token's org)",
    )
    .option(
      "--request-timeout <duration>",
      "how long one request may take, e.g. 10s, 2m (env DISPATCH_REQUEST_TIMEOUT; default 30s). " +
        "Not for --follow, --wait (see --timeout) or exec (the function's timeout and this margin)",
    )
    .addOption(
      new Option("-o, --output <format>", "output format (env DISPATCH_OUTPUT; default table)").choices(
        OUTPUT_FORMATS,
      ),
    );
  for (const command of [
    createGetCommand(app),
    createCreateCommand(app),
    createUpdateCommand(app),
    createDeleteCommand(app),
    createApplyCommand(app),
    createExecCommand(app),
    createEmitCommand(app),
    createRedeliverCommand(app),
    createLogsCommand(app),
    createContextCommand(app),
    createStatusCommand(app),
    createVersionCommand(app),
    createWhoAmICommand(app),
    createCompletionCommand(app),
    createUpCommand(),
    ...createInstallCommands(app),
  ]) {
    program.addCommand(command);
  }
  examples(program, [
    "dispatch up                                   # run Dispatch on this machine",
    "dispatch apply -f seed.yaml --wait",
    "dispatch create function hello hello.js --wait",
    'dispatch exec hello --input \'{"name": "Jon"}\'',
    "dispatch create subscription greet hello --event-type com.example.greeting",
    'dispatch emit com.example.greeting --data \'{"name": "Jon"}\'',
    "dispatch get functions",
    "dispatch create secret db --from-literal password=s3cret",
    "dispatch --context prod get apis -o yaml",
  ]);
  configureTree(program, app.io);
  return program;
}

// Settings that commander copies only to subcommands made with .command(), so
// they are applied to the whole tree here (including the `up` command).
function configureTree(command: Command, io: Io): void {
  command
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureHelp({ ...command.configureHelp(), showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  for (const sub of command.commands) configureTree(sub, io);
}

/**
 * Runs the CLI with `argv` (without the node and script paths).
 *
 * @returns the exit status: 0 ok, 1 failure, 2 usage error.
 */
export async function run(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const app = createApp({ io });
  const program = createProgram(app);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed its message (or the help) already; help that was
      // asked for (--help, "help get", --version) exits 0, anything else is misuse.
      return err.exitCode === 0 ? 0 : 2;
    }
    const failure = describeFailure(err, {
      server: app.settings?.server ?? DEFAULT_SERVER,
      hasToken: (app.settings?.token ?? "") !== "",
      ...(app.settings ? { tokenSource: describeTokenSource(app.settings.tokenSource) } : {}),
    });
    io.stderr(formatFailure(failure));
    return failure.exitCode;
  }
}
