import type { Message } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { type Condition, ConditionStatus, Phase } from "@dispatch/proto";
import { CommandError } from "./errors.js";
import { type Kind, type KindOps, metaOf, type ObjectRef, phaseName, statusOf } from "./kinds/index.js";
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
 * Follows one object with a watch cache (the Watch RPC, no polling, resumed
 * when the connection breaks) until its status describes the current spec
 * (`status.observed_generation ≥ meta.generation`) and says READY. ERROR,
 * deletion or the deadline end the wait with a {@link CommandError} that
 * carries the server's reasons; so does an answer no retry can change (the
 * token refused, say).
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
  /** Why the connection broke, while the watch has not caught up again. */
  let lost: unknown;
  options.progress.update(`waiting for ${label}`);
  // The watch ends with the wait, however it ends (apply waits for one object after another).
  const done = new AbortController();
  const cache = ops.watch(ref, {
    signal: AbortSignal.any([options.signal, done.signal]),
    onReconnect(reconnect) {
      lost = reconnect.cause ?? new Error("the server closed the watch");
      options.progress.update(`${label}: connection lost (${describe(lost)}); watching again`);
    },
  });
  try {
    for await (const batch of cache.changes()) {
      for (const change of batch) {
        if (change.type === "synced") {
          lost = undefined;
          // One object is followed: after a sync without it, it is gone.
          if (cache.size === 0) throw new CommandError(`${label} was deleted while waiting for it`);
          continue;
        }
        if (change.type === "delete") throw new CommandError(`${label} was deleted while waiting for it`);
        const object = change.object;
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
    }
    // The changes end only when the signal aborted: the deadline passed.
    const phase = phaseName(last ? statusOf(last)?.phase : undefined);
    throw new CommandError(
      `timed out after ${options.timeoutText} waiting for ${label} to be ready (phase ${phase})`,
      {
        lines: [
          ...(last ? reasons(last) : []),
          ...(lost === undefined ? [] : [`the watch had lost its connection: ${describe(lost)}`]),
        ],
      },
    );
  } finally {
    done.abort();
  }
}

/** A connection failure in a few words: the server's message without the `[code]` prefix. */
function describe(err: unknown): string {
  if (err instanceof ConnectError) return err.rawMessage;
  return err instanceof Error ? err.message : String(err);
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
