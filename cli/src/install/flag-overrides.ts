import { UsageError } from "../errors.js";
import type { ConfigOverride } from "./load-config.js";

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
