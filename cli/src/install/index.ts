/**
 * `dispatch install` and `dispatch uninstall`: an installation rendered from
 * a config (pure: `render.ts`), printed (`--dry-run`) or applied to a cluster
 * with server-side apply. Loaded only by those commands (`await import`), so
 * no other command loads it or `@kubernetes/client-node`.
 */
import { randomBytes } from "node:crypto";
import type { Io } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { applyPlan } from "./apply.js";
import type { RandomBytes } from "./generated-secrets.js";
import {
  type ConnectKubeOptions,
  connectKube,
  type KubeApi,
  KubeConfigError,
  KubeConnectionError,
} from "./kube-api.js";
import { COMPONENT_TOKENS_SECRET, CONTROL_PLANE_SECRET } from "./labels.js";
import { type ConfigOverride, loadInstallConfig } from "./load-config.js";
import { formatManifests, generatedSecretsNote, type ManifestFormat } from "./manifest-output.js";
import { renderInstall } from "./render.js";
import { waitForRollouts } from "./rollout.js";
import { uninstall } from "./uninstall.js";

export { InstallConfigError } from "./load-config.js";
export { renderInstall } from "./render.js";

/** The flags of `dispatch install`. */
export interface InstallFlags {
  /** The config file's text and how to name it, when `-f` was given. */
  config?: { text: string; source: string };
  namespace?: string;
  host?: string[];
  imageRegistry?: string;
  imageTag?: string;
  /** `COMPONENT=N`, each. */
  replicas?: string[];
  storageClass?: string;
  storageSize?: string;
  /** `path=value`, each. */
  set?: string[];
  dryRun?: boolean;
  /** The global `-o`; only with --dry-run. */
  output?: string;
  wait?: boolean;
  timeoutMs: number;
  forceConflicts?: boolean;
  kubeconfig?: string;
  kubeContext?: string;
}

/** What install and uninstall use besides their flags (tests replace them). */
export interface InstallDeps {
  io: Io;
  /** The default tag of the Dispatch images: the CLI's version. */
  defaultTag: string;
  random?: RandomBytes;
  connect?: (options: ConnectKubeOptions) => Promise<KubeApi>;
}

/** The components `--replicas COMPONENT=N` names, and their keys in the config. */
const replicaKeys: Record<string, string> = {
  "control-plane": "controlPlane",
  "xds-server": "xdsServer",
  "event-broker": "eventBroker",
  envoy: "envoy",
  nats: "nats",
};

/** The flags as config overrides, in the order they apply (later wins). */
export function flagOverrides(flags: InstallFlags): ConfigOverride[] {
  const overrides: ConfigOverride[] = [];
  const add = (flag: string, path: string, value: unknown) => {
    if (value !== undefined) overrides.push({ flag, path: path.split("."), value });
  };
  for (const setting of flags.set ?? []) {
    const eq = setting.indexOf("=");
    if (eq <= 0)
      throw new UsageError(`--set takes PATH=VALUE, e.g. --set nats.storage.size=20Gi, not "${setting}"`);
    add("--set", setting.slice(0, eq).trim(), setting.slice(eq + 1));
  }
  add("--namespace", "namespace", flags.namespace);
  if (flags.host && flags.host.length > 0) add("--host", "hosts", flags.host);
  add("--image-registry", "images.registry", flags.imageRegistry);
  add("--image-tag", "images.tag", flags.imageTag);
  for (const setting of flags.replicas ?? []) {
    const match = /^([a-z-]+)=(.*)$/.exec(setting.trim());
    const key = match ? replicaKeys[match[1] ?? ""] : undefined;
    if (!match || !key) {
      throw new UsageError(
        `--replicas takes COMPONENT=N with a component of ${Object.keys(replicaKeys).join(", ")}, not "${setting}"`,
      );
    }
    add("--replicas", `${key}.replicas`, match[2]);
  }
  add("--storage-class", "nats.storage.className", flags.storageClass);
  add("--storage-size", "nats.storage.size", flags.storageSize);
  return overrides;
}

function manifestFormat(flags: InstallFlags): ManifestFormat {
  if (flags.output === undefined || flags.output === "yaml") return "yaml";
  if (flags.output === "json") return "json";
  throw new UsageError(`install --dry-run prints yaml or json, not ${flags.output}: use -o yaml or -o json`);
}

/**
 * `dispatch install`: renders the installation and prints it (`--dry-run`)
 * or applies it, then waits for the rollouts with `--wait`.
 *
 * @throws UsageError for a bad flag or config (exit 2), CommandError when applying fails
 */
export async function runInstall(flags: InstallFlags, deps: InstallDeps): Promise<void> {
  const { io } = deps;
  if (flags.output !== undefined && !flags.dryRun) {
    throw new UsageError("-o is for --dry-run: install prints what it applies as it goes");
  }
  const format = flags.dryRun ? manifestFormat(flags) : "yaml";
  const config = loadInstallConfig({
    ...(flags.config ? { text: flags.config.text, source: flags.config.source } : {}),
    overrides: flagOverrides(flags),
    defaultTag: deps.defaultTag,
  });
  const plan = renderInstall(config);
  if (flags.dryRun) {
    io.stdout(formatManifests(plan, format));
    // YAML carries the note as a comment; JSON cannot.
    if (format === "json") io.stderr(`${generatedSecretsNote(plan).join("\n")}\n`);
    return;
  }

  const kube = await connect(flags, deps);
  const progress = (line: string) => io.stdout(`${line}\n`);
  progress(
    `Installing Dispatch ${config.images.tag} in namespace ${plan.namespace} (context "${kube.context}", ${kube.server})`,
  );
  await withKubeErrors(kube, () =>
    applyPlan(kube, plan, config, {
      force: flags.forceConflicts === true,
      random: deps.random ?? randomBytes,
      progress,
    }),
  );
  if (flags.wait) {
    await withKubeErrors(kube, () =>
      waitForRollouts(kube, plan.objects, {
        namespace: plan.namespace,
        timeoutMs: flags.timeoutMs,
        progress,
      }),
    );
  }
  const ns = plan.namespace;
  io.stdout(
    [
      "",
      flags.wait
        ? `Dispatch is installed in namespace ${ns}.`
        : `Dispatch is applied in namespace ${ns}; its pods are starting (kubectl -n ${ns} get pods, or install again with --wait).`,
      "Next:",
      `  kubectl -n ${ns} port-forward svc/dispatch-control-plane 8080   # the API, in another terminal`,
      `  dispatch context set ${ns} --server http://127.0.0.1:8080 \\`,
      `    --token "$(kubectl -n ${ns} get secret ${CONTROL_PLANE_SECRET} -o jsonpath='{.data.admin-token}' | base64 -d)"`,
      `  Give the xds-server and the event broker their tokens (Secret ${COMPONENT_TOKENS_SECRET}): see docs/production.md`,
      "",
    ].join("\n"),
  );
}

/** The flags of `dispatch uninstall`. */
export interface UninstallFlags {
  namespace: string;
  deleteData?: boolean;
  dryRun?: boolean;
  kubeconfig?: string;
  kubeContext?: string;
}

/**
 * `dispatch uninstall`: deletes what install made in the namespace, keeping
 * the data unless `--delete-data`.
 */
export async function runUninstall(flags: UninstallFlags, deps: InstallDeps): Promise<void> {
  const { io } = deps;
  const kube = await connect(flags, deps);
  const progress = (line: string) => io.stdout(`${line}\n`);
  const deleted = await withKubeErrors(kube, () =>
    uninstall(kube, {
      namespace: flags.namespace,
      deleteData: flags.deleteData === true,
      dryRun: flags.dryRun === true,
      progress,
    }),
  );
  if (deleted === 0) {
    io.stdout(
      `nothing of a Dispatch installation ${flags.dryRun ? "would be" : "was"} deleted in namespace ${flags.namespace}\n`,
    );
  }
}

async function connect(
  flags: { kubeconfig?: string; kubeContext?: string },
  deps: InstallDeps,
): Promise<KubeApi> {
  try {
    return await (deps.connect ?? connectKube)({
      env: deps.io.env,
      ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
      ...(flags.kubeContext ? { context: flags.kubeContext } : {}),
    });
  } catch (err) {
    if (err instanceof KubeConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** Runs `step`; a cluster that cannot be reached becomes a CommandError saying which one. */
async function withKubeErrors<T>(kube: KubeApi, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof KubeConnectionError) {
      throw new CommandError(err.message, {
        lines: [
          `is the cluster up, and is context "${kube.context}" the one you meant? (--kube-context picks another)`,
        ],
        cause: err,
      });
    }
    throw err;
  }
}
