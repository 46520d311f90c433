import { type KubeApi, KubeApiError } from "@dispatch/kubernetes-driver/kube-api";
import { CommandError } from "../errors.js";
import type { InstallConfig } from "./config.js";
import { type GeneratedSecret, type RandomBytes, secretWithValues } from "./generated-secrets.js";
import { FIELD_MANAGER } from "./labels.js";
import { applyOrder, type InstallPlan } from "./render.js";
import { createRenderContext } from "./render-context.js";
import { collectionPath, displayName, objectPath } from "./resource-paths.js";
import type { KubeObject } from "./workload.js";

/** The content type of a server-side apply (a JSON body is YAML too). */
export const APPLY_PATCH = "application/apply-patch+yaml";

/** How {@link applyPlan} applies. */
export interface ApplyOptions {
  /** Take over fields another field manager owns (`--force-conflicts`); without it such a conflict fails. */
  force: boolean;
  /** Makes the values of generated Secrets. */
  random: RandomBytes;
  /** One line per object as it is applied. */
  progress(line: string): void;
  signal?: AbortSignal;
}

/**
 * Applies an installation in order: each object with server-side apply
 * (field manager `dispatch`), and, where Secrets go in the order, each
 * generated Secret created if it is missing and otherwise left as it is.
 * Stops at the first failure, saying which object and why.
 *
 * @throws CommandError naming the object that failed and how to go on
 */
export async function applyPlan(
  kube: KubeApi,
  plan: InstallPlan,
  config: InstallConfig,
  options: ApplyOptions,
): Promise<void> {
  // Secrets take their place in the apply order: after configuration, before what mounts them.
  const secretRank = applyOrder.indexOf("Secret");
  const before = plan.objects.filter((o) => applyOrder.indexOf(o.kind) < secretRank);
  const after = plan.objects.filter((o) => applyOrder.indexOf(o.kind) >= secretRank);
  for (const object of before) await applyObject(kube, object, options);
  for (const secret of plan.secrets) await ensureSecret(kube, plan, config, secret, options);
  for (const object of after) await applyObject(kube, object, options);
}

async function applyObject(kube: KubeApi, object: KubeObject, options: ApplyOptions): Promise<void> {
  const name = displayName(object);
  try {
    await kube.request({
      method: "PATCH",
      path: objectPath(object),
      query: { fieldManager: FIELD_MANAGER, ...(options.force ? { force: true } : {}) },
      body: object,
      contentType: APPLY_PATCH,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    options.progress(`${name} applied`);
  } catch (err) {
    if (err instanceof KubeApiError) throw explainApplyError(name, err);
    throw err;
  }
}

/** A failed apply in words: which object, what the API server said, and what to do. */
function explainApplyError(name: string, err: KubeApiError): CommandError {
  const lines: string[] = [err.message];
  if (err.status === 409) {
    lines.push(
      "another field manager (kubectl, a Helm release, an operator) owns fields install sets: " +
        "change them back there, or take them over with --force-conflicts",
    );
  } else if (err.status === 403) {
    lines.push(
      "the kubeconfig's user may not do this: install needs to create namespaces, RBAC, workloads and policies",
    );
  } else if (err.status === 422 && name.startsWith("statefulset")) {
    lines.push(
      "a StatefulSet's volume claims cannot change after it is created: nats.storage (size, class) keeps the value it was installed with",
    );
  } else if (err.status === 404) {
    lines.push("the API server does not serve this kind here: is the cluster at least Kubernetes 1.25?");
  }
  return new CommandError(`cannot apply ${name}`, { lines, cause: err });
}

/**
 * Creates a generated Secret when it is missing. One that exists is kept
 * as it is (its values are the installation's identity: the key that
 * sealed its secrets); it must hold every key, or install stops and says
 * which is missing.
 */
async function ensureSecret(
  kube: KubeApi,
  plan: InstallPlan,
  config: InstallConfig,
  secret: GeneratedSecret,
  options: ApplyOptions,
): Promise<void> {
  const name = `secret/${secret.name}`;
  const path = `${collectionPath("Secret", plan.namespace)}/${encodeURIComponent(secret.name)}`;
  const signal = options.signal ? { signal: options.signal } : {};
  const existing = await readSecret(kube, path, signal);
  if (existing === undefined) {
    try {
      await kube.request({
        method: "POST",
        path: collectionPath("Secret", plan.namespace),
        query: { fieldManager: FIELD_MANAGER },
        body: secretWithValues(createRenderContext(config), secret, options.random),
        ...signal,
      });
      options.progress(`${name} created (values generated)`);
      return;
    } catch (err) {
      // Made by someone else since the read: check that one like any existing Secret.
      if (!(err instanceof KubeApiError && err.status === 409)) {
        if (err instanceof KubeApiError)
          throw new CommandError(`cannot create ${name}`, { lines: [err.message], cause: err });
        throw err;
      }
    }
  }
  const data = existing ?? (await readSecret(kube, path, signal)) ?? {};
  const missing = secret.keys.filter((k) => !(k.key in data)).map((k) => k.key);
  if (missing.length > 0) {
    throw new CommandError(`${name} exists but has no ${missing.map((k) => `"${k}"`).join(" or ")}`, {
      lines: [
        `install never changes an existing ${secret.name} (it may hold the key your data was sealed with):`,
        `add the missing keys (${secret.keys
          .filter((k) => missing.includes(k.key))
          .map((k) => `${k.key}: ${k.description}`)
          .join("; ")}),`,
        `or delete the Secret to have install generate a new one (kubectl -n ${plan.namespace} delete secret ${secret.name})`,
      ],
    });
  }
  options.progress(`${name} exists, kept`);
}

/** A Secret's data keys (values are not looked at), or undefined when there is none. */
async function readSecret(
  kube: KubeApi,
  path: string,
  signal: { signal?: AbortSignal },
): Promise<Record<string, unknown> | undefined> {
  try {
    const found = await kube.request<{ data?: Record<string, unknown> }>({ method: "GET", path, ...signal });
    return found.data ?? {};
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    if (err instanceof KubeApiError)
      throw new CommandError(`cannot read ${path}`, { lines: [err.message], cause: err });
    throw err;
  }
}
