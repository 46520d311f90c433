import { Command, InvalidArgumentError } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { addEventsUrlOption, openEventBroker } from "../events/event-broker.js";
import { EVENT_HEADERS, EVENT_WIDTHS, eventRow, storedEventJson } from "../events/event-rows.js";
import { renderJson, renderRecord, renderYaml } from "../output/format.js";
import { formatRow, formatTable } from "../output/table.js";
import { examples } from "./shared.js";

interface GetEventsFlags {
  broker: string;
  type?: string;
  limit: number;
  eventsUrl?: string;
}

/** The flags of `get` itself, which commander hands to `get` wherever they are typed. */
interface GetParentFlags {
  follow?: boolean;
  last?: boolean;
  reveal?: boolean;
}

/** Parses `--limit`: 0 to `max` (commands that cannot take 0 say why). */
export function parseLimitFlag(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value.trim());
    if (!/^\d+$/.test(value.trim()) || n > max) {
      throw new InvalidArgumentError(`use a whole number from 1 to ${max}.`);
    }
    return n;
  };
}

/**
 * Refuses the flags of `get` that mean nothing to `get events` and
 * `get deadletters` (`--last`, `--reveal`; `--follow` where it is not supported).
 */
export function refuseGetFlags(cmd: Command, what: string, follows: boolean): GetParentFlags {
  const flags = cmd.optsWithGlobals<GetParentFlags>();
  if (flags.last) throw new UsageError(`--last applies to runs, not ${what} (use --limit 1 for the newest)`);
  if (flags.reveal) throw new UsageError(`--reveal applies to secrets, not ${what}`);
  if (flags.follow && !follows) throw new UsageError(`--follow applies to runs and events, not ${what}`);
  return flags;
}

/**
 * `dispatch get events`: the newest events stored in the org's broker
 * (EventService.ListEvents), oldest first; with `--follow`, those and then each
 * new one as it is stored (EventService.WatchEvents), until Ctrl-C.
 */
export function getEventsCommand(app: App): Command {
  const command = new Command("events")
    .alias("event")
    .description(
      "List the newest events stored in the org's event broker, oldest first. With --follow, print them " +
        "and then each new event as it is stored, until Ctrl-C (-o json: one JSON object per line).",
    )
    .option("--broker <broker>", "the org's broker to read", "default")
    .option("--type <type>", "only events of this type (exact)")
    .option(
      "--limit <n>",
      "how many of the newest events (at most 1000; with --follow, 0 prints only new ones)",
      parseLimitFlag(1000),
      20,
    );
  addEventsUrlOption(command);
  command.action(async (flags: GetEventsFlags, cmd: Command) => {
    const { follow } = refuseGetFlags(cmd, "events", true);
    if (flags.limit === 0 && !follow) {
      throw new UsageError(
        "--limit 0 lists nothing: it goes with --follow (print only the events stored from now on)",
      );
    }
    const session = await app.session(cmd);
    const broker = await openEventBroker(session, flags.eventsUrl);
    const format = session.settings.output;
    const request = {
      org: session.settings.org,
      broker: flags.broker,
      type: flags.type ?? "",
    };
    if (follow) {
      const signal = session.io.interrupted();
      if (format === "table") session.io.stdout(formatRow(EVENT_HEADERS, EVENT_WIDTHS));
      try {
        // A follow lasts until Ctrl-C: no request deadline.
        for await (const { event } of broker.client.watchEvents(
          { ...request, last: flags.limit },
          { signal, timeoutMs: 0 },
        )) {
          if (!event) continue;
          session.io.stdout(
            format === "table"
              ? formatRow(eventRow(event), EVENT_WIDTHS)
              : renderRecord(format, storedEventJson(event)),
          );
        }
      } catch (err) {
        if (signal.aborted) return;
        throw broker.explain(err);
      }
      if (signal.aborted) return;
      throw new CommandError(`the event broker at ${broker.url} ended the stream (has it stopped?)`);
    }
    const { events } = await broker.call((client) => client.listEvents({ ...request, limit: flags.limit }));
    if (format !== "table") {
      const value = { items: events.map(storedEventJson) };
      session.io.stdout(format === "json" ? renderJson(value) : renderYaml(value));
      return;
    }
    if (events.length === 0) {
      const of = flags.type === undefined ? "" : ` of type "${flags.type}"`;
      const org = session.settings.org ? ` of org "${session.settings.org}"` : "";
      session.io.stderr(`No events${of} found in broker "${flags.broker}"${org}.\n`);
      return;
    }
    session.io.stdout(formatTable(EVENT_HEADERS, events.map(eventRow)));
  });
  return examples(command, [
    "dispatch get events",
    "dispatch get events --type com.example.order.created --limit 5 -o yaml",
    "dispatch get events --follow",
    "dispatch get events -f --limit 0 -o json | jq .event.id   # only new events, as JSON lines",
  ]);
}
