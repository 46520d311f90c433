import type { Message } from "@bufbuild/protobuf";
import { type Condition, ConditionStatus, Phase, WatchEventType } from "@dispatch/proto";
import { CommandError } from "./errors.js";
import { type Kind, type KindOps, metaOf, type ObjectRef, phaseName, statusOf } from "./kinds.js";
import type { Progress } from "./output/progress.js";

/** Options for {@link waitForReady}. */
export interface WaitOptions {
  /** Aborts the wait (the `--timeout` deadline). */
  signal: AbortSignal;
  /** How long the deadline was, for the timeout message. */
  timeoutText: string;
  progress: Progress;
}

/**
 * Follows one object with the Watch RPC (no polling) until its status describes the
 * current spec (`status.observed_generation ≥ meta.generation`) and says READY.
 * ERROR, deletion or the deadline end the wait with a {@link CommandError} that
 * carries the server's reasons.
 *
 * @returns the object as it was when it became ready.
 */
export async function waitForReady(
  kind: Kind,
  ops: KindOps,
  ref: ObjectRef,
  options: WaitOptions,
): Promise<Message> {
  const label = `${kind.singular}/${ref.name}`;
  if (!ops.watch) throw new CommandError(`${kind.plural} cannot be watched`);
  let last: Message | undefined;
  options.progress.update(`waiting for ${label}`);
  try {
    for await (const event of ops.watch(ref, options.signal)) {
      if (event.type === WatchEventType.DELETED)
        throw new CommandError(`${label} was deleted while waiting for it`);
      const object = event.object;
      if (!object || (event.type !== WatchEventType.ADDED && event.type !== WatchEventType.MODIFIED))
        continue;
      last = object;
      const status = statusOf(object);
      const current = (status?.observedGeneration ?? 0n) >= (metaOf(object)?.generation ?? 0n);
      options.progress.update(
        `${label}: ${phaseName(status?.phase)}${current ? "" : " (not yet reconciled)"}`,
      );
      if (!current) continue;
      if (status?.phase === Phase.READY) return object;
      if (status?.phase === Phase.ERROR)
        throw new CommandError(`${label} failed`, { lines: reasons(object) });
    }
  } catch (err) {
    if (!options.signal.aborted) throw err;
    const phase = phaseName(last ? statusOf(last)?.phase : undefined);
    throw new CommandError(
      `timed out after ${options.timeoutText} waiting for ${label} to be ready (phase ${phase})`,
      {
        lines: last ? reasons(last) : [],
        cause: err,
      },
    );
  }
  throw new CommandError(`the server ended the watch before ${label} was ready`);
}

/** The plain-language reasons in a status, plus the messages of failing conditions. */
export function reasons(object: Message): string[] {
  const status = statusOf(object);
  const lines = [...(status?.reason ?? [])];
  const conditions = (status as { conditions?: Condition[] } | undefined)?.conditions ?? [];
  for (const c of conditions) {
    if (c.status === ConditionStatus.FALSE && c.message && !lines.includes(c.message)) {
      lines.push(`${c.type}: ${c.message}`);
    }
  }
  return lines;
}
