import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type JsonValue, toJson } from "@bufbuild/protobuf";
import { EmitResponseSchema } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import {
  DEFAULT_SOURCE,
  type EmitEventFlags,
  emitEvent,
  parseExtensionFlag,
  parseTimeFlag,
} from "../events/emit-event.js";
import { addEventsUrlOption, openEventBroker } from "../events/event-broker.js";
import { renderJson, renderYaml } from "../output/format.js";
import { examples } from "./shared.js";

interface EmitFlags extends EmitEventFlags {
  broker: string;
  eventsUrl?: string;
}

/**
 * `dispatch emit TYPE`: sends one CloudEvent to the org's event broker
 * (EventService.Emit) and says whether it was stored or was there already.
 */
export function createEmitCommand(app: App): Command {
  const command = new Command("emit")
    .description(
      "Send an event to the event broker: the subscriptions it matches deliver it to their functions. " +
        "It is stored before this returns; an event with the same source and id as one stored before " +
        "is not stored again (a duplicate).",
    )
    .argument("<type>", "the event's type, e.g. com.example.order.created")
    .option("--data <text>", "the data: JSON (unless --content-type says another type)")
    .option(
      "--data-file <file>",
      "the data: the file's bytes as they are (type from --content-type, or .json, .txt, … ; else application/octet-stream)",
    )
    .option("--content-type <type>", "the data's media type (datacontenttype), e.g. text/plain")
    .option("--source <source>", `where the event comes from, a URI reference (default ${DEFAULT_SOURCE})`)
    .option("--subject <subject>", "what in the source the event is about, e.g. orders/1234")
    .option("--id <id>", "the event's id, unique per source (default: a random UUID)")
    .option("--time <time>", "when it happened, RFC 3339 (default: now)", parseTimeFlag)
    .option(
      "--extension <name=value>",
      "an extension attribute; names are 1 to 20 lowercase letters and digits (repeatable)",
      parseExtensionFlag,
    )
    .option("--broker <broker>", "the broker of the org to send to", "default");
  addEventsUrlOption(command);
  command.action(async (type: string, flags: EmitFlags, cmd: Command) => {
    const file = flags.dataFile === undefined ? undefined : await readBytes(flags.dataFile);
    const event = emitEvent(type, flags, {
      ...(file ? { file } : {}),
      now: new Date(),
      newId: randomUUID,
    });
    const session = await app.session(cmd);
    const broker = await openEventBroker(session, flags.eventsUrl);
    const response = await broker.call((client) =>
      client.emit({ org: session.settings.org, broker: flags.broker, events: [event] }),
    );
    const format = session.settings.output;
    if (format !== "table") {
      const json = toJson(EmitResponseSchema, response) as JsonValue;
      session.io.stdout(format === "json" ? renderJson(json) : renderYaml(json));
      return;
    }
    const result = response.results[0];
    if (!result) throw new CommandError("the broker's answer has no result for the event");
    session.io.stdout(
      result.duplicate
        ? `event ${result.id} was already stored (duplicate)\n`
        : `event ${result.id} stored (sequence ${result.sequence})\n`,
    );
  });
  return examples(command, [
    `dispatch emit com.example.order.created --data '{"order": 1234, "amount": 99.5}'`,
    "dispatch emit com.example.image.uploaded --data-file cat.png --source /uploads --subject cat.png",
    "dispatch emit com.example.note --data 'hello' --content-type text/plain --extension tenant=acme",
    "dispatch emit com.example.order.created --id order-1234 --data '{}'   # sent twice, stored once",
    "dispatch emit com.example.ping -o json",
  ]);
}

/** A data file's bytes, as they are. */
async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UsageError(`file ${path} does not exist`);
    if (code === "EISDIR") throw new UsageError(`${path} is a directory, not a file`);
    throw err;
  }
}
