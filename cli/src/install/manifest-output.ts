import { stringify } from "yaml";
import type { InstallPlan } from "./render.js";

/** How `dispatch install --dry-run` prints: a YAML stream, or one JSON `List`. */
export type ManifestFormat = "yaml" | "json";

/**
 * What the printed manifests lack: the Secrets install generates on the
 * cluster (values are never printed), and how to make them when applying the
 * output by other means.
 */
export function generatedSecretsNote(plan: InstallPlan): string[] {
  return [
    "Secrets that dispatch install creates when they are missing (their values are made on",
    "apply and never printed; an existing Secret is never changed):",
    ...plan.secrets.flatMap((secret) => [
      `  ${secret.name}:`,
      ...secret.keys.map((k) => `    ${k.key}: ${k.description}`),
    ]),
    "To apply this output with other tools, create them first, e.g.:",
    `  kubectl -n ${plan.namespace} create secret generic dispatch-control-plane \\`,
    '    --from-literal=secret-key="$(openssl rand -base64 32)" --from-literal=admin-token="$(openssl rand -base64 32 | tr +/ -_ | tr -d =)"',
    `  kubectl -n ${plan.namespace} create secret generic dispatch-nats \\`,
    '    --from-literal=user=dispatch --from-literal=password="$(openssl rand -hex 32)"',
  ];
}

/**
 * The plan's objects as text: a YAML stream (`---` between objects, a
 * comment on the generated Secrets first), or a JSON `v1/List`. Stable: the
 * same plan prints the same bytes.
 */
export function formatManifests(plan: InstallPlan, format: ManifestFormat): string {
  if (format === "json") {
    return `${JSON.stringify({ apiVersion: "v1", kind: "List", items: plan.objects }, null, 2)}\n`;
  }
  const header = generatedSecretsNote(plan)
    .map((line) => `# ${line}`)
    .join("\n");
  const documents = plan.objects.map((object) => `---\n${stringify(object, { lineWidth: 0 })}`);
  return `${header}\n${documents.join("")}`;
}
