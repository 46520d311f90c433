import { natsServerBinary, tuneCollectorForProxying } from "@dispatch/server-kit";
import { CommandError } from "../errors.js";
import { startUp } from "./up.js";
import { UpError } from "./up-error.js";
import type { UpFlags } from "./up-flags.js";

/**
 * Runs `dispatch up` with its parsed flags: starts every component, prints
 * where they listen, and stops them at the first stop signal. Imported only
 * by the `up` command's action.
 */
export async function runUp(flags: UpFlags, configPath: string | undefined): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // This process runs the embedded gateway's request path (decision 0010).
  tuneCollectorForProxying();
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
      ...(flags.gatewayPort === undefined ? {} : { gatewayPort: flags.gatewayPort }),
      ...(flags.xdsPort === undefined ? {} : { xdsPort: flags.xdsPort }),
      ...(flags.eventsPort === undefined ? {} : { eventsPort: flags.eventsPort }),
      eventsRetention: { maxAgeMs: flags.eventsMaxAge, maxBytes: flags.eventsMaxBytes },
      gateway: flags.gateway,
      accessLog: flags.accessLog,
      ...(flags.envoyBin === undefined ? {} : { envoyBin: flags.envoyBin }),
      ...(flags.gatewayTlsPort === undefined ? {} : { gatewayTlsPort: flags.gatewayTlsPort }),
      ...(flags.gatewayTlsCert === undefined ? {} : { gatewayTlsCert: flags.gatewayTlsCert }),
      ...(flags.gatewayTlsKey === undefined ? {} : { gatewayTlsKey: flags.gatewayTlsKey }),
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
      maxEndpointsPerOrg: flags.maxEndpointsPerOrg,
      maxSubscriptionsPerOrg: flags.maxSubscriptionsPerOrg,
      ...(configPath ? { configPath } : {}),
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
