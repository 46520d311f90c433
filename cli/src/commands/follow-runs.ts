import { createWatchCache } from "@dispatch/client";
import type { Run } from "@dispatch/proto";
import type { Session } from "../app.js";
import { type Kind, newestRun, sortRuns } from "../kinds/index.js";
import { objectJson, renderRecord } from "../output/format.js";
import { formatRow } from "../output/table.js";

/**
 * `dispatch get runs [FUNCTION] --follow`: the runs there are, then every run as it
 * is created or changes (RunService.Watch, through a watch cache that resumes after a
 * broken connection), until Ctrl-C. Tables print a row per
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
  // A follow lasts until Ctrl-C; a broken connection is resumed where it was.
  const cache = createWatchCache({
    client: session.clients.runs,
    request: { org: session.orgFor(kind), function: fn ?? "" },
    signal,
  });
  let initial = true;
  for await (const batch of cache.changes()) {
    if (initial) {
      // The first batch holds the runs that existed when the watch began; print
      // them in order, under the header (printed only now: a function that does
      // not exist fails before this, with nothing printed but the error).
      initial = false;
      if (format === "table") {
        session.io.stdout(
          formatRow(
            kind.columns.map((c) => c.header),
            widths,
          ),
        );
      }
      const existing = sortRuns(cache.list());
      const shown = last ? [newestRun(existing)].filter((r) => r !== undefined) : existing;
      for (const run of shown) print(run);
      continue;
    }
    // Each run once per batch, at its latest.
    for (const change of batch) if (change.type === "upsert") print(change.object);
  }
}
