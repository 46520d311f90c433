import type { Run } from "@dispatch/proto";
import { WatchEventType } from "@dispatch/proto";
import type { Session } from "../app.js";
import { type Kind, newestRun, sortRuns } from "../kinds.js";
import { objectJson, renderRecord } from "../output/format.js";
import { formatRow } from "../output/table.js";

/**
 * `dispatch get runs [FUNCTION] --follow`: the runs there are, then every run as it
 * is created or changes (RunService.Watch), until Ctrl-C. Tables print a row per
 * change against fixed column widths; `-o json` prints JSON lines and `-o yaml`
 * YAML documents.
 *
 * @param last print only the newest of the runs that already exist.
 */
export async function followRuns(
  session: Session,
  kind: Kind,
  fn: string | undefined,
  last: boolean,
): Promise<void> {
  const format = session.settings.output;
  const signal = session.io.interrupted();
  // A run id is a UUID; STATUS fits INITIALIZED; STARTED fits "59m ago".
  const widths = [36, Math.max(8, fn?.length ?? 20), 11, 8];
  const print = (run: Run) => {
    if (format === "table") {
      const now = new Date();
      session.io.stdout(
        formatRow(
          kind.columns.map((c) => c.value(run, now)),
          widths,
        ),
      );
    } else {
      session.io.stdout(renderRecord(format, objectJson(kind, run)));
    }
  };
  let initial: Run[] | undefined = [];
  try {
    // A follow lasts until Ctrl-C: no request timeout.
    const stream = session.clients.runs.watch(
      { org: session.orgFor(kind), function: fn ?? "" },
      { signal, timeoutMs: 0 },
    );
    for await (const event of stream) {
      if (event.type === WatchEventType.SYNCED) {
        // The runs that existed when the watch began are in; print them in order,
        // under the header (printed only now: a function that does not exist fails
        // before this, with nothing printed but the error).
        if (format === "table" && initial) {
          session.io.stdout(
            formatRow(
              kind.columns.map((c) => c.header),
              widths,
            ),
          );
        }
        const existing = sortRuns(initial ?? []);
        const shown = last ? [newestRun(existing)].filter((r) => r !== undefined) : existing;
        for (const run of shown) print(run);
        initial = undefined;
        continue;
      }
      if (event.type === WatchEventType.DELETED || !event.object) continue;
      if (initial) initial.push(event.object);
      else print(event.object);
    }
  } catch (err) {
    // Ctrl-C is how a follow is meant to end.
    if (signal.aborted) return;
    throw err;
  }
}
