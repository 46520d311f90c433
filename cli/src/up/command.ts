import { homedir } from "node:os";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { CommandError } from "../errors.js";
import { parseDurationFlag } from "../functions/function-flags.js";
import type { UpFlags } from "./up-flags.js";

/** Where `dispatch up` keeps its data unless told otherwise: `~/.dispatch/data`. */
export function defaultDataDir(): string {
  return join(homedir(), ".dispatch", "data");
}

/**
 * The `dispatch up` command: runs every Dispatch component in this process
 * (plus its own nats-server, unless --nats-url names one) until SIGINT,
 * SIGTERM or SIGHUP. This module holds only its flags; the servers are
 * imported when the command runs (`run-up.ts`), so other commands start
 * without them.
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
        "--gateway <kind>",
        "what serves endpoints: the embedded gateway, or an envoy binary programmed by the same xds-server",
      )
        .choices(["embedded", "envoy"])
        .env("DISPATCH_GATEWAY")
        .default("embedded"),
    )
    .addOption(
      new Option(
        "--no-access-log",
        "do not print the gateway's access log (a JSON line per request on stdout)",
      ),
    )
    .addOption(
      new Option(
        "--envoy-bin <path>",
        "with --gateway envoy: the Envoy binary (default: envoy on the PATH)",
      ).env("DISPATCH_ENVOY_BIN"),
    )
    .addOption(
      new Option(
        "--gateway-port <port>",
        "port of the gateway that serves endpoints (default: the one used last time, else 8081, else a free one)",
      )
        .env("DISPATCH_GATEWAY_PORT")
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        "--gateway-tls-port <port>",
        "HTTPS port of the gateway (default: the one used last time, else 8444, else a free one)",
      )
        .env("DISPATCH_GATEWAY_TLS_PORT")
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        "--gateway-tls-cert <file>",
        "PEM certificate of the gateway's HTTPS listener (default: a self-signed one for localhost, made in <data-dir>/gateway-tls)",
      ).env("DISPATCH_GATEWAY_TLS_CERT"),
    )
    .addOption(
      new Option("--gateway-tls-key <file>", "PEM private key for --gateway-tls-cert").env(
        "DISPATCH_GATEWAY_TLS_KEY",
      ),
    )
    .addOption(
      new Option(
        "--xds-port <port>",
        "port of the xds-server on 127.0.0.1 (ADS for the gateway; default: the one used last time, else a free one)",
      )
        .env("DISPATCH_XDS_PORT")
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
    .addOption(
      new Option(
        "--max-endpoints-per-org <n>",
        "most endpoints one org may have (each is a route on every proxy)",
      )
        .env("DISPATCH_MAX_ENDPOINTS_PER_ORG")
        .default(10_000)
        .argParser((v) => parseCount(v, "--max-endpoints-per-org")),
    )
    .addOption(
      new Option(
        "--max-subscriptions-per-org <n>",
        "most event subscriptions one org may have (each is a durable consumer of the broker)",
      )
        .env("DISPATCH_MAX_SUBSCRIPTIONS_PER_ORG")
        .default(1_000)
        .argParser((v) => parseCount(v, "--max-subscriptions-per-org")),
    )
    .addOption(
      new Option(
        "--events-port <port>",
        "port of the event broker (CloudEvents in, the EventService API; default: the one used last time, else 8082, else a free one)",
      )
        .env("DISPATCH_EVENTS_PORT")
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        "--events-max-age <duration>",
        "drop stored events older than this (each org's broker; e.g. 24h)",
      )
        .env("DISPATCH_EVENTS_MAX_AGE")
        .default(7 * 24 * 3_600_000, "168h")
        .argParser(parseDurationFlag),
    )
    .addOption(
      new Option(
        "--events-max-bytes <n>",
        "most bytes each org's broker keeps, oldest events dropped first (suffixes K, M, G: e.g. 512M)",
      )
        .env("DISPATCH_EVENTS_MAX_BYTES")
        .default(1024 ** 3, "1G")
        .argParser(parseByteSize),
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

Endpoints: the gateway (http://<host>:8081 and https://<host>:8444 unless those
ports are taken, then the ones it prints) serves every endpoint; the xds-server programs it over ADS on
127.0.0.1, and no other program may connect there without the node token in
<data-dir>/xds-node.token. Warm or cold, a call goes gateway -> activator ->
worker, so each one is recorded as a Run with the function's secrets at hand.
With --gateway envoy, an envoy binary takes the embedded gateway's place (plain
HTTP on the gateway port; its bootstrap and admin address are in <data-dir>/envoy).

Events: the event broker (http://<host>:8082 unless taken) takes CloudEvents
(POST /<org>/default, binary, structured or batched mode, with a Dispatch
token), stores them in JetStream before it answers 202, and delivers them to
subscribed functions (dispatch create subscription, dispatch emit).

Examples:
  dispatch up
  dispatch up --port 9090 --data-dir /tmp/dispatch
  dispatch up --gateway envoy --gateway-port 8000
  dispatch up --nats-url nats://dispatch:s3cret@nats.example:4222
  dispatch up --nats-url tls://nats.example:4222 --nats-creds user.creds --nats-tls-ca ca.pem`,
    )
    .action(async (flags: UpFlags, command: Command) => {
      checkNatsFlags(flags);
      // Loaded here only: no other command loads the control plane or server-kit.
      const { runUp } = await import("./run-up.js");
      await runUp(flags, command.optsWithGlobals<{ config?: string }>().config);
    });
}

/** NATS flags that only make sense together. */
function checkNatsFlags(
  flags: Pick<UpFlags, "natsUrl" | "natsCreds" | "natsTlsCa" | "natsTlsCert" | "natsTlsKey" | "natsPort">,
): void {
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

/** A size in bytes: a whole number, optionally with K, M or G (powers of 1024). */
function parseByteSize(value: string): number {
  const match = /^(\d+)([KMG]i?B?)?$/i.exec(value.trim());
  const unit = (match?.[2] ?? "").charAt(0).toUpperCase();
  const n = match ? Number(match[1]) * ({ K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[unit] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1024 * 1024) {
    throw new InvalidArgumentError(`"${value}" is not a size of at least 1M (e.g. 512M, 2G)`);
  }
  return n;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`"${value}" is not a port number (0-65535)`);
  }
  return port;
}
