import { Command, InvalidArgumentError, Option } from "commander";
import type { App } from "../app.js";
import { parseDuration } from "../output/time.js";
import { clientVersion } from "../version.js";
import { examples } from "./shared.js";

/** What commander parses from `dispatch install`'s flags. */
interface InstallCommandFlags {
  file?: string;
  namespace?: string;
  host?: string[];
  imageRegistry?: string;
  imageTag?: string;
  replicas?: string[];
  storageClass?: string;
  storageSize?: string;
  set?: string[];
  dryRun?: boolean;
  forceConflicts?: boolean;
  wait?: boolean;
  timeout: number;
  kubeconfig?: string;
  kubeContext?: string;
}

/** What commander parses from `dispatch uninstall`'s flags. */
interface UninstallCommandFlags {
  namespace: string;
  deleteData?: boolean;
  dryRun?: boolean;
  kubeconfig?: string;
  kubeContext?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function timeout(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError("use a duration such as 5m or 10m.");
  return ms;
}

function kubeOptions(command: Command): Command {
  return command
    .option(
      "--kubeconfig <file>",
      "the kubeconfig (default $KUBECONFIG, ~/.kube/config, or the pod's service account)",
    )
    .option("--kube-context <name>", "a context of the kubeconfig (default its current one)");
}

/**
 * `dispatch install` and `dispatch uninstall`: Dispatch on a Kubernetes
 * cluster. The work is in `../install/`, imported when one of them runs, so
 * no other command loads it (or `@kubernetes/client-node`).
 */
export function createInstallCommands(app: App): Command[] {
  const install = new Command("install")
    .description(
      "Install Dispatch on a Kubernetes cluster (control plane, xds-server, event broker, Envoy, NATS), " +
        "or print the manifests with --dry-run",
    )
    .option("-f, --file <config>", "an install config (YAML; - reads stdin); flags override it")
    .option("-n, --namespace <name>", "the namespace to install in (default dispatch)")
    .option("--host <name>", "a public host name of the gateway (repeat for more)", collect)
    .option("--image-registry <registry>", "where the Dispatch images are (default dispatch)")
    .option("--image-tag <tag>", `the Dispatch images' tag (default ${clientVersion()})`)
    .option(
      "--replicas <component=n>",
      "replicas of control-plane, xds-server, event-broker, envoy or nats (repeat for more)",
      collect,
    )
    .option("--storage-class <name>", "the StorageClass of NATS' volumes (default the cluster's)")
    .option("--storage-size <size>", "the size of each NATS volume (default 10Gi)")
    .option(
      "--set <path=value>",
      "any config setting, e.g. controlPlane.resources.limits.memory=2Gi",
      collect,
    )
    .option("--dry-run", "print the manifests (-o yaml, the default, or -o json) and change nothing")
    .option("--force-conflicts", "take over fields another field manager (kubectl, Helm) owns")
    .option("--wait", "wait until every Deployment and the NATS StatefulSet have rolled out")
    .addOption(
      new Option("--timeout <duration>", "how long --wait waits").default(600_000, "10m").argParser(timeout),
    );
  kubeOptions(install)
    .addHelpText(
      "after",
      `
Install applies every object with server-side apply (field manager "dispatch")
in order: the namespace, RBAC, configuration, the generated Secrets, network
policies, Services, disruption budgets, workloads. Running it again upgrades
in place. It creates the Secrets that hold the control plane's key, an admin
token and NATS' password once, when they are missing, and never prints them.

The install config (-f) holds: namespace, clusterDomain, hosts, images
(registry, tag, pullPolicy, pullSecrets, nats, envoy), controlPlane,
xdsServer, eventBroker, envoy, nats (replicas, resources, serviceType,
envoy.port, nats.storage.className and size) and functions.internetEgress.
See docs/production.md.`,
    )
    .action(async (flags: InstallCommandFlags, command: Command) => {
      const { runInstall } = await import("../install/run.js");
      const { file, timeout: timeoutMs, ...rest } = flags;
      const output = command.optsWithGlobals<{ output?: string }>().output;
      await runInstall(
        {
          ...rest,
          ...(file
            ? { config: { text: await app.readInput(file), source: file === "-" ? "<stdin>" : file } }
            : {}),
          ...(output === undefined ? {} : { output }),
          timeoutMs,
        },
        { io: app.io, defaultTag: clientVersion() },
      );
    });
  examples(install, [
    "dispatch install --dry-run                      # the manifests, as YAML",
    "dispatch install --dry-run -o json -f prod.yaml",
    "dispatch install --wait                         # into namespace dispatch, with the current kubeconfig context",
    "dispatch install -f prod.yaml --namespace prod --image-registry registry.example.com/dispatch --wait",
    "dispatch install --replicas envoy=4 --replicas nats=5 --storage-class fast-ssd --storage-size 50Gi",
    "dispatch install --set controlPlane.resources.limits.memory=2Gi --host api.example.com",
  ]);

  const uninstall = new Command("uninstall")
    .description("Delete what dispatch install made in a namespace; the data (NATS volumes, keys) stays")
    .option("-n, --namespace <name>", "the namespace of the installation", "dispatch")
    .option(
      "--delete-data",
      "also delete the data: NATS' volumes, the generated Secrets (the key your secrets are sealed with) and the namespace",
    )
    .option("--dry-run", "list what would be deleted and delete nothing");
  kubeOptions(uninstall).action(async (flags: UninstallCommandFlags) => {
    const { runUninstall } = await import("../install/run.js");
    await runUninstall(flags, { io: app.io, defaultTag: clientVersion() });
  });
  examples(uninstall, [
    "dispatch uninstall --dry-run",
    "dispatch uninstall --namespace prod",
    "dispatch uninstall --delete-data               # everything, the namespace included",
  ]);
  return [install, uninstall];
}
