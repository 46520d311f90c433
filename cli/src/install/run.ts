/**
 * `dispatch install` and `dispatch uninstall`: an installation rendered from
 * a config (pure: `render.ts`), printed (`--dry-run`) or applied to a cluster
 * with server-side apply. The commands load this module with `import()`
 * (docs/ARCHITECTURE.md's `lazy:` rule), so no other command loads it or
 * `@kubernetes/client-node`.
 */
import { randomBytes } from "node:crypto";
import {
  type ConnectKubeOptions,
  connectKube,
  type KubeApi,
  KubeConfigError,
  KubeConnectionError,
} from "@dispatch/kubernetes-driver/kube-api";
import type { Io } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { applyPlan } from "./apply.js";
import { flagOverrides, type InstallFlags } from "./flag-overrides.js";
import type { RandomBytes } from "./generated-secrets.js";
import { COMPONENT_TOKENS_SECRET, CONTROL_PLANE_SECRET } from "./labels.js";
import { loadInstallConfig } from "./load-config.js";
import { formatManifests, generatedSecretsNote, type ManifestFormat } from "./manifest-output.js";
import { renderInstall } from "./render.js";
import { waitForRollouts } from "./rollout.js";
import { uninstall } from "./uninstall.js";

export type { InstallFlags } from "./flag-overrides.js";

/** What install and uninstall use besides their flags (tests replace them). */
export interface InstallDeps {
  io: Io;
  /** The default tag of the Dispatch images: the CLI's version. */
  defaultTag: string;
  random?: RandomBytes;
  connect?: (options: ConnectKubeOptions) => Promise<KubeApi>;
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
