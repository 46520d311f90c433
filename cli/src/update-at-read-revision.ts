import { Code, ConnectError } from "@connectrpc/connect";

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
