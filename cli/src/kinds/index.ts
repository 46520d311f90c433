/**
 * The kinds the CLI knows, one file each, and how command-line words and
 * manifest `kind:` values find them.
 */
import { UsageError } from "../errors.js";
import { endpointKind } from "./endpoint.js";
import { functionKind } from "./function.js";
import type { Kind } from "./kind.js";
import { organizationKind } from "./organization.js";
import { runKind } from "./run.js";
import { secretKind } from "./secret.js";
import { subscriptionKind } from "./subscription.js";
import { tokenKind } from "./token.js";

export {
  type Column,
  type Kind,
  type KindOps,
  type ListScope,
  metaOf,
  type ObjectRef,
  phaseName,
  type StatusView,
  statusOf,
  type WatchOptions,
} from "./kind.js";
export { newestRun, sortRuns } from "./run.js";
export { describeFilters } from "./subscription.js";
export { roleName } from "./token.js";

/** Every kind the CLI knows, in the order help texts list them. */
export const KINDS: readonly Kind[] = [
  functionKind,
  endpointKind,
  subscriptionKind,
  secretKind,
  organizationKind,
  tokenKind,
  runKind,
];

/** The words `get`, `delete` and `update` accept for a kind. */
export function kindWords(kind: Kind): string[] {
  return [kind.singular, kind.plural, ...kind.aliases];
}

/**
 * Finds a kind by a command-line word (`secret`, `secrets`, `fn`, `api`, any case).
 * An unknown word is a {@link UsageError} that lists the known kinds.
 */
export function kindByWord(word: string): Kind {
  const lower = word.toLowerCase();
  const kind = KINDS.find((k) => kindWords(k).includes(lower));
  if (!kind) throw new UsageError(`unknown kind "${word}" (known kinds: ${describeKinds(KINDS)})`);
  return kind;
}

/** The kinds that can appear in manifests. */
export const MANIFEST_KINDS: readonly Kind[] = KINDS.filter((k) => k.specSchema !== undefined);

/** Finds a manifest kind by its `kind:` value (`Secret`, `API`, case-insensitive). */
export function kindByManifestName(value: string): Kind | undefined {
  const lower = value.toLowerCase();
  return MANIFEST_KINDS.find((k) => [k.kind, ...k.manifestAliases].some((n) => n.toLowerCase() === lower));
}

/** `functions (fn, fns), endpoints (api, apis), …` for messages and help. */
export function describeKinds(kinds: readonly Kind[]): string {
  return kinds
    .map((k) => {
      const aliases = k.aliases.filter((a) => a !== k.singular);
      return aliases.length > 0 ? `${k.plural} (${aliases.join(", ")})` : k.plural;
    })
    .join(", ");
}
