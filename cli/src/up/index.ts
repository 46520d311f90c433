import { type IsolationChoice, natsServerBinary } from "@dispatch/control-plane";
import { Command, InvalidArgumentError, Option } from "commander";
import { CommandError } from "../errors.js";
import { parseDurationFlag } from "../functions/function-flags.js";
import { defaultDataDir } from "./data-dir.js";
import { startUp, UpError } from "./up.js";

/**
 * The `dispatch up` command: runs every Dispatch component in this process
 * (plus nats-server when none is running) until SIGINT, SIGTERM or SIGHUP.
 */
export function createUpCommand(): Command {
  return new Command("up")
    .description("Run Dispatch on this machine, in the foreground, until Ctrl-C")
    .addOption(
      new Option("--data-dir <dir>", "where tokens, keys and the embedded NATS store live")
        .env("DISPATCH_DATA_DIR")
        .default(defaultDataDir()),
    )
    .addOption(
      new Option("--host <host>", "interface the API listens on").env("DISPATCH_HOST").default("127.0.0.1"),
    )
    .addOption(
      new Option("--port <port>", "port of the Connect/gRPC API")
        .env("DISPATCH_PORT")
        .default(8080)
        .argParser(parsePort),
    )
    .addOption(
      new Option("--nats-url <url>", "NATS server with JetStream; started in the data dir when none answers")
        .env("NATS_URL")
        .default("nats://127.0.0.1:4222"),
    )
    .addOption(
      new Option(
        "--nats-server-bin <path>",
        "the nats-server binary to start (default: on PATH, or in /usr/sbin)",
      ),
    )
    .addOption(
      new Option("--isolation <mode>", "how function workers are isolated (auto: bubblewrap where it works)")
        .env("DISPATCH_ISOLATION")
        .choices(["auto", "bubblewrap", "process"])
        .default("auto"),
    )
    .addOption(new Option("--save-context <name>", "CLI context to point at this instance").default("local"))
    .addOption(
      new Option("--runs-max-age <duration>", "drop run records older than this (e.g. 168h)")
        .env("DISPATCH_RUNS_MAX_AGE")
        .default(7 * 24 * 3_600_000, "168h")
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option("--runs-per-function <n>", "keep at most this many runs per function (the newest)")
        .env("DISPATCH_RUNS_PER_FUNCTION")
        .default(1000)
        .argParser((v) => parseCount(v, "--runs-per-function")),
    )
    .addOption(
      new Option("--max-bundle-mib <n>", "largest function bundle accepted, in MiB")
        .env("DISPATCH_MAX_BUNDLE_MIB")
        .default(32)
        .argParser((v) => parseCount(v, "--max-bundle-mib")),
    )
    .addHelpText(
      "after",
      `
On first start it creates an admin token (<data-dir>/admin.token, mode 0600) and
makes the CLI context "local" current, so other dispatch commands just work.

Examples:
  dispatch up
  dispatch up --port 9090 --data-dir /tmp/dispatch
  NATS_URL=nats://nats.example:4222 dispatch up`,
    )
    .action(
      async (
        flags: {
          dataDir: string;
          host: string;
          port: number;
          natsUrl: string;
          natsServerBin?: string;
          saveContext: string;
          runsMaxAge: number;
          runsPerFunction: number;
          maxBundleMib: number;
          isolation: IsolationChoice;
        },
        command: Command,
      ) => {
        const log = (line: string) => process.stderr.write(`${line}\n`);
        // Listening from the start: a signal while starting stops what was started
        // (workers and nats-server have process groups of their own).
        const stopRequested = waitForSignal(log);
        let up: Awaited<ReturnType<typeof startUp>>;
        try {
          up = await startUp({
            dataDir: flags.dataDir,
            host: flags.host,
            port: flags.port,
            natsUrl: flags.natsUrl,
            // Looked up only here, not for every dispatch command.
            natsServerBin: flags.natsServerBin ?? natsServerBinary(),
            contextName: flags.saveContext,
            runRetention: { maxAgeMs: flags.runsMaxAge, maxPerFunction: flags.runsPerFunction },
            maxBundleBytes: flags.maxBundleMib * 1024 * 1024,
            isolation: flags.isolation,
            ...(command.optsWithGlobals<{ config?: string }>().config
              ? { configPath: command.optsWithGlobals<{ config: string }>().config }
              : {}),
            log,
          });
        } catch (err) {
          if (err instanceof UpError) throw new CommandError(err.message);
          throw err;
        }
        const width = Math.max(...Object.keys(up.urls).map((k) => k.length));
        const lines = Object.entries(up.urls).map(([name, url]) => `  ${name.padEnd(width)}  ${url}`);
        process.stdout.write(
          [
            "Dispatch is up.",
            ...lines,
            `Admin token: ${up.dataDir.adminTokenPath} (CLI context "${flags.saveContext}" is current)`,
            "Try: dispatch status    Stop: Ctrl-C",
            "",
          ].join("\n"),
        );
        await stopRequested;
        log("stopping...");
        await up.stop();
        log("stopped");
      },
    );
}

function parseCount(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`${flag} takes a whole number of at least 1, not "${value}"`);
  return n;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port number (0-65535)`);
  }
  return port;
}

/**
 * What stops `dispatch up` cleanly: Ctrl-C, a service manager, or the terminal
 * closing (SIGHUP; workers and nats-server have process groups of their own,
 * so up must stop them itself).
 */
const stopSignals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Resolves at the first stop signal; a second one exits at once (130). */
function waitForSignal(log: (line: string) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const force = () => {
      log("stopping now (second signal)");
      process.exit(130);
    };
    const on = (signal: NodeJS.Signals) => {
      for (const s of stopSignals) {
        process.off(s, on);
        process.once(s, force);
      }
      resolve(signal);
    };
    for (const s of stopSignals) process.on(s, on);
  });
}
