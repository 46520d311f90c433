import type { IsolationChoice } from "@dispatch/control-plane";
import { natsServerBinary } from "@dispatch/server-kit";
import { Command, InvalidArgumentError, Option } from "commander";
import { CommandError } from "../errors.js";
import { parseDurationFlag } from "../functions/function-flags.js";
import { defaultDataDir } from "./data-dir.js";
import { startUp, UpError } from "./up.js";

/**
 * The `dispatch up` command: runs every Dispatch component in this process
 * (plus its own nats-server, unless --nats-url names one) until SIGINT,
 * SIGTERM or SIGHUP.
 */
export function createUpCommand(): Command {
  return new Command("up")
    .description("Run Dispatch on this machine, in the foreground, until Ctrl-C")
    .addOption(
      new Option("--data-dir <dir>", "where tokens, keys, NATS credentials and the NATS store live")
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
      new Option(
        "--activator-port <port>",
        "port of the activator (HTTP calls to functions; default: the one used last time, else a free one)",
      )
        .env("DISPATCH_ACTIVATOR_PORT")
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        "--nats-url <url>",
        "use this NATS server (with JetStream) instead of starting one; user:password@ or token@ in the URL log in",
      ).env("NATS_URL"),
    )
    .addOption(
      new Option("--nats-creds <file>", "NATS credentials file (JWT and nkey seed) for --nats-url").env(
        "NATS_CREDS",
      ),
    )
    .addOption(
      new Option("--nats-tls-ca <file>", "CA certificate that signed the --nats-url server's").env(
        "NATS_TLS_CA",
      ),
    )
    .addOption(
      new Option("--nats-tls-cert <file>", "client certificate for --nats-url (with --nats-tls-key)").env(
        "NATS_TLS_CERT",
      ),
    )
    .addOption(new Option("--nats-tls-key <file>", "client key for --nats-url").env("NATS_TLS_KEY"))
    .addOption(
      new Option(
        "--nats-port <port>",
        "port of the nats-server dispatch up starts (default: the one used last time, else a free one)",
      )
        .env("DISPATCH_NATS_PORT")
        .argParser(parsePort),
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
    .addOption(
      new Option("--max-unpacked-mib <n>", "largest function bundle once unpacked, in MiB")
        .env("DISPATCH_MAX_UNPACKED_MIB")
        .default(256)
        .argParser((v) => parseCount(v, "--max-unpacked-mib")),
    )
    .addOption(
      new Option("--max-bundle-files <n>", "most files (and directories) in a function bundle")
        .env("DISPATCH_MAX_BUNDLE_FILES")
        .default(10_000)
        .argParser((v) => parseCount(v, "--max-bundle-files")),
    )
    .addOption(
      new Option("--max-scale-min <n>", "largest scale.min a function may ask for")
        .env("DISPATCH_MAX_SCALE_MIN")
        .default(20)
        .argParser((v) => parseCount(v, "--max-scale-min")),
    )
    .addOption(
      new Option("--max-scale-max <n>", "largest scale.max a function may ask for")
        .env("DISPATCH_MAX_SCALE_MAX")
        .default(100)
        .argParser((v) => parseCount(v, "--max-scale-max")),
    )
    .addOption(
      new Option("--max-instances-per-org <n>", "most function instances running at once in one org")
        .env("DISPATCH_MAX_INSTANCES_PER_ORG")
        .default(50)
        .argParser((v) => parseCount(v, "--max-instances-per-org")),
    )
    .addHelpText(
      "after",
      `
On first start it creates an admin token (<data-dir>/admin.token, mode 0600) and
makes the CLI context "local" current, so other dispatch commands just work.

NATS: without --nats-url (or $NATS_URL) dispatch up starts its own nats-server,
with JetStream in <data-dir>/nats, on 127.0.0.1 and a port of its own (a free one
the first time, the same one afterwards; <data-dir>/ports.json remembers it and
the activator's). Clients must log in: the user and password are in
<data-dir>/nats-credentials.json (mode 0600). A NATS already listening on this
machine is never used unless --nats-url names it. A nats-server left running by
a dispatch up that was killed is used again, and stopped with this one.

Examples:
  dispatch up
  dispatch up --port 9090 --data-dir /tmp/dispatch
  dispatch up --nats-url nats://dispatch:s3cret@nats.example:4222
  dispatch up --nats-url tls://nats.example:4222 --nats-creds user.creds --nats-tls-ca ca.pem`,
    )
    .action(
      async (
        flags: {
          dataDir: string;
          host: string;
          port: number;
          natsUrl?: string;
          natsCreds?: string;
          natsTlsCa?: string;
          natsTlsCert?: string;
          natsTlsKey?: string;
          natsPort?: number;
          activatorPort?: number;
          natsServerBin?: string;
          saveContext: string;
          runsMaxAge: number;
          runsPerFunction: number;
          maxBundleMib: number;
          maxUnpackedMib: number;
          maxBundleFiles: number;
          maxScaleMin: number;
          maxScaleMax: number;
          maxInstancesPerOrg: number;
          isolation: IsolationChoice;
        },
        command: Command,
      ) => {
        const log = (line: string) => process.stderr.write(`${line}\n`);
        checkNatsFlags(flags);
        // Listening from the start: a signal while starting stops what was started
        // (workers and nats-server have process groups of their own).
        const stopRequested = waitForSignal(log);
        let up: Awaited<ReturnType<typeof startUp>>;
        try {
          up = await startUp({
            dataDir: flags.dataDir,
            host: flags.host,
            port: flags.port,
            ...(flags.natsUrl === undefined ? {} : { natsUrl: flags.natsUrl }),
            ...(flags.natsCreds === undefined ? {} : { natsCreds: flags.natsCreds }),
            natsTls: {
              ...(flags.natsTlsCa ? { caFile: flags.natsTlsCa } : {}),
              ...(flags.natsTlsCert ? { certFile: flags.natsTlsCert } : {}),
              ...(flags.natsTlsKey ? { keyFile: flags.natsTlsKey } : {}),
            },
            ...(flags.natsPort === undefined ? {} : { natsPort: flags.natsPort }),
            ...(flags.activatorPort === undefined ? {} : { activatorPort: flags.activatorPort }),
            // Looked up only here, not for every dispatch command.
            natsServerBin: flags.natsServerBin ?? natsServerBinary(),
            contextName: flags.saveContext,
            runRetention: { maxAgeMs: flags.runsMaxAge, maxPerFunction: flags.runsPerFunction },
            maxBundleBytes: flags.maxBundleMib * 1024 * 1024,
            functionLimits: {
              maxUnpackedBytes: flags.maxUnpackedMib * 1024 * 1024,
              maxBundleFiles: flags.maxBundleFiles,
              maxScaleMin: flags.maxScaleMin,
              maxScaleMax: flags.maxScaleMax,
              maxInstancesPerOrg: flags.maxInstancesPerOrg,
            },
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

/** NATS flags that only make sense together. */
function checkNatsFlags(flags: {
  natsUrl?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  natsPort?: number;
}): void {
  if (flags.natsUrl === undefined) {
    const stray = (
      [
        ["--nats-creds", flags.natsCreds],
        ["--nats-tls-ca", flags.natsTlsCa],
        ["--nats-tls-cert", flags.natsTlsCert],
        ["--nats-tls-key", flags.natsTlsKey],
      ] as const
    ).find(([, value]) => value !== undefined);
    if (stray) {
      throw new CommandError(
        `${stray[0]} is for a NATS named with --nats-url; the nats-server dispatch up starts uses the credentials in its data dir`,
      );
    }
  } else if (flags.natsPort !== undefined) {
    throw new CommandError(
      "--nats-port is for the nats-server dispatch up starts; with --nats-url it starts none",
    );
  }
  if ((flags.natsTlsCert === undefined) !== (flags.natsTlsKey === undefined)) {
    throw new CommandError("--nats-tls-cert and --nats-tls-key go together: give both, or neither");
  }
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
