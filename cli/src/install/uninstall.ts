import { type KubeApi, KubeApiError } from "@dispatch/kubernetes-driver/kube-api";
import { CommandError } from "../errors.js";
import { DATA_LABEL } from "./generated-secrets.js";
import { installSelector, MANAGED_BY } from "./labels.js";
import { applyOrder } from "./render.js";
import { collectionPath, displayName } from "./resource-paths.js";

/** What {@link uninstall} removes. */
export interface UninstallOptions {
  namespace: string;
  /** Also the data: NATS' volumes, the generated Secrets (the key that sealed secrets) and the namespace. */
  deleteData: boolean;
  /** Only say what would be deleted. */
  dryRun: boolean;
  progress(line: string): void;
  signal?: AbortSignal;
}

interface Listed {
  metadata?: { name?: string; labels?: Record<string, string> };
}

/**
 * Deletes what `dispatch install` made in a namespace, found by its labels,
 * in the reverse of the order install applies (workloads first, the
 * namespace last). The data stays unless `deleteData`: NATS'
 * PersistentVolumeClaims, the generated Secrets (without the control
 * plane's key, the secrets sealed in NATS cannot be read) and the namespace.
 *
 * @returns how many objects were (or, in a dry run, would be) deleted
 * @throws CommandError when a list or delete fails
 */
export async function uninstall(kube: KubeApi, options: UninstallOptions): Promise<number> {
  const { namespace } = options;
  const kinds = [...applyOrder].reverse().filter((kind) => kind !== "Namespace");
  kinds.push("PersistentVolumeClaim");
  let deleted = 0;
  for (const kind of kinds) {
    const items = await list(kube, kind, namespace, options.signal);
    for (const item of items) {
      const name = item.metadata?.name ?? "";
      const shown = displayName({ kind, metadata: { name } });
      const isData = kind === "PersistentVolumeClaim" || item.metadata?.labels?.[DATA_LABEL] === "true";
      if (isData && !options.deleteData) {
        options.progress(`${shown} kept (data: --delete-data deletes it)`);
        continue;
      }
      await remove(kube, `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`, shown, options);
      deleted++;
    }
  }
  const ns = await readNamespace(kube, namespace, options.signal);
  if (ns?.metadata?.labels?.["app.kubernetes.io/managed-by"] === MANAGED_BY) {
    if (options.deleteData) {
      await remove(
        kube,
        `${collectionPath("Namespace", undefined)}/${encodeURIComponent(namespace)}`,
        `namespace/${namespace}`,
        options,
      );
      deleted++;
    } else {
      options.progress(`namespace/${namespace} kept (it holds the data: --delete-data deletes it)`);
    }
  }
  return deleted;
}

async function list(kube: KubeApi, kind: string, namespace: string, signal?: AbortSignal): Promise<Listed[]> {
  try {
    const found = await kube.request<{ items?: Listed[] }>({
      method: "GET",
      path: collectionPath(kind, namespace),
      query: { labelSelector: installSelector },
      ...(signal ? { signal } : {}),
    });
    return (found.items ?? []).sort((a, b) =>
      (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "", "en"),
    );
  } catch (err) {
    if (err instanceof KubeApiError) {
      throw new CommandError(`cannot list ${kind}s in namespace ${namespace}`, {
        lines: [err.message],
        cause: err,
      });
    }
    throw err;
  }
}

async function readNamespace(
  kube: KubeApi,
  namespace: string,
  signal?: AbortSignal,
): Promise<Listed | undefined> {
  try {
    return await kube.request<Listed>({
      method: "GET",
      path: `${collectionPath("Namespace", undefined)}/${encodeURIComponent(namespace)}`,
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    if (err instanceof KubeApiError) {
      throw new CommandError(`cannot read namespace ${namespace}`, { lines: [err.message], cause: err });
    }
    throw err;
  }
}

async function remove(kube: KubeApi, path: string, shown: string, options: UninstallOptions): Promise<void> {
  if (options.dryRun) {
    options.progress(`${shown} would be deleted (dry run)`);
    return;
  }
  try {
    await kube.request({
      method: "DELETE",
      path,
      // The pods and ReplicaSets of a workload go with it, in the background.
      query: { propagationPolicy: "Background" },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    options.progress(`${shown} deleted`);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) {
      options.progress(`${shown} already gone`);
      return;
    }
    if (err instanceof KubeApiError)
      throw new CommandError(`cannot delete ${shown}`, { lines: [err.message], cause: err });
    throw err;
  }
}
