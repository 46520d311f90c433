import type { V1Secret } from "@kubernetes/client-node";
import { CONTROL_PLANE_SECRET, installLabels, NATS_SECRET } from "./labels.js";
import type { RenderContext } from "./render-context.js";
import type { Typed } from "./workload.js";

/** Random bytes (node:crypto's randomBytes; tests pass their own). */
export type RandomBytes = (size: number) => Uint8Array;

/**
 * The label of objects that hold an installation's data (its Secrets); with
 * the NATS volumes, `dispatch uninstall` keeps them unless `--delete-data`:
 * without the control plane's key, the secrets sealed in NATS cannot be read.
 */
export const DATA_LABEL = "dispatch.dev/data";

/** One key of a generated Secret: what it holds, and how a value is made. */
export interface GeneratedKey {
  key: string;
  /** What the value is, in words (dry-run shows this, never a value). */
  description: string;
  generate(random: RandomBytes): string;
}

/**
 * A Secret that `dispatch install` creates once, when it is missing, and
 * never changes after: the renderer only names it (pods refer to it), and
 * no value is rendered or printed.
 */
export interface GeneratedSecret {
  name: string;
  keys: readonly GeneratedKey[];
}

const base64 = (size: number) => (random: RandomBytes) => Buffer.from(random(size)).toString("base64");
const base64url = (size: number) => (random: RandomBytes) => Buffer.from(random(size)).toString("base64url");
const hex = (size: number) => (random: RandomBytes) => Buffer.from(random(size)).toString("hex");

/** The Secrets an installation needs that only it can make. */
export function generatedSecrets(): GeneratedSecret[] {
  return [
    {
      name: CONTROL_PLANE_SECRET,
      keys: [
        {
          key: "secret-key",
          description: "the key that seals secrets at rest: 32 random bytes, base64",
          generate: base64(32),
        },
        {
          key: "admin-token",
          description: "an admin API token: 32 random bytes, base64url",
          generate: base64url(32),
        },
      ],
    },
    {
      name: NATS_SECRET,
      keys: [
        { key: "user", description: 'the NATS user, "dispatch"', generate: () => "dispatch" },
        // Hex: it goes into a nats:// URL unescaped.
        { key: "password", description: "the NATS password: 32 random bytes, hex", generate: hex(32) },
      ],
    },
  ];
}

/** A generated Secret with fresh values, as install creates it. */
export function secretWithValues(
  ctx: RenderContext,
  secret: GeneratedSecret,
  random: RandomBytes,
): Typed<V1Secret> {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: secret.name,
      namespace: ctx.namespace,
      labels: { ...installLabels(ctx.version), [DATA_LABEL]: "true" },
    },
    type: "Opaque",
    stringData: Object.fromEntries(secret.keys.map((k) => [k.key, k.generate(random)])),
  };
}
