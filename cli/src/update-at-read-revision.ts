import type { DescMessage, Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { specsEqual, tagsEqual } from "./diff.js";

/** What a command learns when it reads the object again after a conflict. */
export interface Reread {
  /** The object's current revision. */
  revision: bigint;
  /** Whether what the command based its change on (spec and tags) is as it read it. */
  unchanged: boolean;
}

/**
 * Sends an update that a command made from what it read, at the revision it
 * read, so that a concurrent edit fails (ABORTED) instead of being overwritten.
 * The platform also writes an object's status (ready instances come and go),
 * and that moves the revision too: when the server answers ABORTED and a fresh
 * read shows the spec and tags as the command read them, only the status moved,
 * and the update is sent again at the new revision. A change by someone else
 * still fails.
 *
 * @example
 * await updateAtReadRevision(read.meta.revision, (revision) => update({ ...next, revision }), async () => {
 *   const fresh = await get();
 *   return { revision: fresh.meta.revision, unchanged: specsEqual(schema, read.spec, fresh.spec) };
 * });
 */
export async function updateAtReadRevision<R>(
  readRevision: bigint,
  send: (revision: bigint) => Promise<R>,
  reread: () => Promise<Reread>,
  attempts = 5,
): Promise<R> {
  let revision = readRevision;
  for (let attempt = 1; ; attempt++) {
    try {
      return await send(revision);
    } catch (err) {
      if (attempt >= attempts || revision === 0n || ConnectError.from(err).code !== Code.Aborted) throw err;
      const fresh = await reread();
      if (!fresh.unchanged) throw err;
      revision = fresh.revision;
    }
  }
}

/** What of an object these helpers read: its revision and tags, and its spec. */
export interface SpecHolder {
  meta?: { revision: bigint; tags: { [key: string]: string } } | undefined;
  spec?: Message | undefined;
}

/**
 * The {@link Reread} of `fresh` against `read`, the object a command based its
 * change on: unchanged when spec (compared as `specSchema`) and tags are as read.
 * Without a schema nothing can be compared, and a conflict stays a conflict.
 */
export function rereadOf(
  specSchema: DescMessage | undefined,
  read: SpecHolder,
  fresh: SpecHolder | undefined,
): Reread {
  return {
    revision: fresh?.meta?.revision ?? 0n,
    unchanged:
      specSchema !== undefined &&
      specsEqual(specSchema, read.spec, fresh?.spec) &&
      tagsEqual(read.meta?.tags ?? {}, fresh?.meta?.tags ?? {}),
  };
}

/**
 * A command's edit of one object: `next` is `current` with the flags applied.
 * When the spec is as it was nothing is sent ("unchanged"); otherwise `next` is
 * sent at the revision read ({@link updateAtReadRevision}, `get` reading it again
 * after a conflict) and the server's answer returned ("configured").
 */
export async function updateSpec<T extends SpecHolder>(
  specSchema: DescMessage,
  current: T,
  next: T,
  send: (next: T) => Promise<T | undefined>,
  get: () => Promise<T | undefined>,
): Promise<{ action: "unchanged" | "configured"; object: T | undefined }> {
  if (specsEqual(specSchema, current.spec, next.spec)) return { action: "unchanged", object: current };
  const object = await updateAtReadRevision(
    current.meta?.revision ?? 0n,
    (revision) => {
      if (next.meta) next.meta.revision = revision;
      return send(next);
    },
    async () => rereadOf(specSchema, current, await get()),
  );
  return { action: "configured", object };
}
