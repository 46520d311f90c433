import { type JsonValue, toJson } from "@bufbuild/protobuf";
import { type DeadLetter, RedeliverResponseSchema } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { addEventsUrlOption, openEventBroker } from "../events/event-broker.js";
import { DEAD_LETTER_HEADERS, deadLetterJson, deadLetterRow } from "../events/event-rows.js";
import { renderJson, renderYaml } from "../output/format.js";
import { formatTable } from "../output/table.js";
import { parseLimitFlag, refuseGetFlags } from "./get-events.js";
import { examples } from "./shared.js";

/**
 * `dispatch get deadletters SUBSCRIPTION` (aliases `deadletter`, `dl`): the
 * events a subscription gave up on, with why (EventService.ListDeadLetters).
 */
export function getDeadLettersCommand(app: App): Command {
  const command = new Command("deadletters")
    .aliases(["deadletter", "dl"])
    .description(
      "List the events a subscription gave up on (its last delivery attempt failed), oldest first, " +
        'with the last error. Send them again with "dispatch redeliver".',
    )
    .argument("<subscription>", "the subscription")
    .option("--limit <n>", "at most this many (at most 1000)", parseLimitFlag(1000), 100);
  addEventsUrlOption(command);
  command.action(async (subscription: string, flags: { limit: number; eventsUrl?: string }, cmd: Command) => {
    refuseGetFlags(cmd, "dead letters", false);
    if (flags.limit === 0) throw new UsageError("--limit must be 1 or more");
    const session = await app.session(cmd);
    const broker = await openEventBroker(session, flags.eventsUrl);
    const org = session.settings.org;
    const { items } = await broker.call((client) =>
      client.listDeadLetters({ org, subscription, limit: flags.limit }),
    );
    // The broker lists none for a subscription that does not exist: say so.
    if (items.length === 0) await session.clients.subscriptions.get({ org, name: subscription });
    const format = session.settings.output;
    if (format !== "table") {
      const value = { items: items.map(deadLetterJson) };
      session.io.stdout(format === "json" ? renderJson(value) : renderYaml(value));
      return;
    }
    if (items.length === 0) {
      session.io.stderr(`Subscription "${subscription}" has no dead letters.\n`);
      return;
    }
    const now = new Date();
    session.io.stdout(
      formatTable(
        DEAD_LETTER_HEADERS,
        items.map((l) => deadLetterRow(l, now)),
      ),
    );
  });
  return examples(command, [
    "dispatch get deadletters orders",
    "dispatch get dl orders -o yaml          # with the whole error and the event",
    "dispatch get dl orders -o json | jq -r '.items[].event.event.id'",
  ]);
}

/**
 * `dispatch redeliver SUBSCRIPTION [ID…] [--all]`: sends dead-lettered events to
 * the subscription's function again, one attempt each (EventService.Redeliver).
 * Exit status 1 when some failed again (they stay in the dead letters).
 */
export function createRedeliverCommand(app: App): Command {
  const command = new Command("redeliver")
    .description(
      "Send a subscription's dead-lettered events to its function again, one attempt each, and wait for them. " +
        "Delivered ones leave the dead letters; the others stay with the new error (exit status 1).",
    )
    .argument("<subscription>", "the subscription")
    .argument("[ids...]", 'the events to send again (their IDs, from "dispatch get deadletters")')
    .option("--all", "send every dead letter of the subscription again");
  addEventsUrlOption(command);
  command.action(
    async (
      subscription: string,
      ids: string[],
      flags: { all?: boolean; eventsUrl?: string },
      cmd: Command,
    ) => {
      if (!flags.all && ids.length === 0) {
        throw new UsageError(
          `name the events to send again (their IDs: "dispatch get deadletters ${subscription}"), or give --all`,
        );
      }
      if (flags.all && ids.length > 0) throw new UsageError("give event IDs or --all, not both");
      const session = await app.session(cmd);
      const broker = await openEventBroker(session, flags.eventsUrl);
      // Each delivery may take as long as the function's timeout: no request deadline.
      const response = await broker.call((client) =>
        client.redeliver(
          { org: session.settings.org, subscription, ids, all: flags.all === true },
          { timeoutMs: 0 },
        ),
      );
      const format = session.settings.output;
      const tried = response.delivered + response.failed.length;
      if (format !== "table") {
        const json = toJson(RedeliverResponseSchema, response) as JsonValue;
        session.io.stdout(format === "json" ? renderJson(json) : renderYaml(json));
      } else if (tried === 0) {
        session.io.stdout(`subscription "${subscription}" has no dead letters: nothing to redeliver\n`);
      } else {
        session.io.stdout(
          `${response.delivered} of ${tried} ${tried === 1 ? "event" : "events"} delivered\n`,
        );
      }
      if (response.failed.length > 0) {
        const n = response.failed.length;
        throw new CommandError(
          `${n} ${n === 1 ? "event" : "events"} failed again and ${n === 1 ? "stays" : "stay"} in the dead letters:`,
          { lines: response.failed.map(describeFailed) },
        );
      }
    },
  );
  return examples(command, [
    "dispatch redeliver orders 1f0c6a52-2b43-4d3e-9e8b-9a7c1d2e3f40",
    "dispatch redeliver orders --all",
    "dispatch redeliver orders --all -o json",
  ]);
}

/** `ID (TYPE): the error`, for a dead letter that failed again. */
function describeFailed(letter: DeadLetter): string {
  const event = letter.event?.event;
  return `${event?.id ?? "?"} (${event?.type ?? "?"}): ${letter.lastError.split("\n")[0] ?? ""}`;
}
