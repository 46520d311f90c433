import type { Message } from "@bufbuild/protobuf";
import { Command } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { describeKinds, KINDS, kindByWord, sortRuns } from "../kinds/index.js";
import { renderObjects } from "../output/format.js";
import { takesKind } from "./completion.js";
import { getDeadLettersCommand } from "./dead-letters.js";
import { followRuns } from "./follow-runs.js";
import { getEventsCommand } from "./get-events.js";
import { examples } from "./shared.js";

interface GetFlags {
  reveal?: boolean;
  last?: boolean;
  follow?: boolean;
}

/** `dispatch get KIND [NAME…]`: list objects, or show named ones. */
export function createGetCommand(app: App): Command {
  const command = takesKind(new Command("get"))
    .summary("List objects of a kind, or show named ones")
    .description(
      `List objects of a kind, or show the named ones. Kinds: ${describeKinds(KINDS)}. ` +
        "Runs: get runs [FUNCTION [RUN_ID]] [--last] [--follow], oldest first. " +
        "Events: get events [--type TYPE] [--follow] (see get events --help); a subscription's dead letters: " +
        "get deadletters SUBSCRIPTION. -o yaml prints what apply -f reads back.",
    )
    .argument("<kind>", "the kind of object")
    .argument("[names...]", "show only these (for runs: FUNCTION, then RUN_ID)")
    .option("--reveal", "include secret values in -o json/yaml output (tables never show them)")
    .option("--last", "for runs: only the newest run")
    .option(
      "-f, --follow",
      "for runs and events: keep printing runs as they are created or change, or events as they are stored " +
        "(-o json: JSON lines), until Ctrl-C",
    );
  command.addCommand(getEventsCommand(app));
  command.addCommand(getDeadLettersCommand(app));
  command.action(async (word: string, names: string[], options: GetFlags, cmd: Command) => {
    const kind = kindByWord(word);
    if (options.reveal && !kind.revealable)
      throw new UsageError(`--reveal applies to secrets, not ${kind.plural}`);
    if ((options.last || options.follow) && kind.kind !== "Run") {
      throw new UsageError(`--${options.last ? "last" : "follow"} applies to runs, not ${kind.plural}`);
    }
    if (kind.kind === "Run" && names.length > 2) {
      throw new UsageError("get runs takes at most FUNCTION and RUN_ID");
    }
    if (kind.kind === "Run" && names.length === 2 && (options.last || options.follow)) {
      throw new UsageError(`--${options.last ? "last" : "follow"} lists a function's runs: leave out RUN_ID`);
    }
    const session = await app.session(cmd);
    if (options.follow) {
      await followRuns(session, kind, names[0], options.last === true);
      return;
    }
    const ops = kind.ops(session.clients);
    const org = session.orgFor(kind);
    const reveal = options.reveal === true;
    const format = session.settings.output;

    let objects: Message[];
    let single = false;
    if (kind.kind === "Run") {
      const [fn, id] = names;
      if (id !== undefined) {
        objects = [await ops.get({ org, name: id, parent: fn ?? "" })];
        single = true;
      } else {
        objects = sortRuns(await ops.list(fn === undefined ? { org } : { org, parent: fn }));
        // The server lists no runs for a function that does not exist; say so, as exec does.
        if (fn !== undefined && objects.length === 0) await session.clients.functions.get({ org, name: fn });
        if (options.last) {
          objects = objects.slice(-1);
          single = true;
        }
      }
    } else if (names.length > 0) {
      objects = [];
      for (const name of names) objects.push(await ops.get({ org, name }, { reveal }));
      single = names.length === 1;
    } else {
      objects = await ops.list({ org }, { reveal });
    }

    const where = kind.global ? "" : ` in org "${org || "default"}"`;
    const of = kind.kind === "Run" && names[0] !== undefined ? ` of function "${names[0]}"` : "";
    // --last asks for one run, like a name does: none is a failure.
    if (options.last && objects.length === 0) throw new CommandError(`no ${kind.plural}${of} found${where}`);
    if (format === "table" && objects.length === 0) {
      session.io.stderr(`No ${kind.plural}${of} found${where}.\n`);
      return;
    }
    if (format === "table" && reveal) {
      session.io.stderr("note: tables never show secret values; use -o yaml or -o json with --reveal\n");
    }
    session.io.stdout(renderObjects(format, kind, objects, { single }));
  });
  return examples(command, [
    "dispatch get functions",
    "dispatch get secret open-sesame --reveal -o yaml",
    "dispatch get apis -o json",
    "dispatch get runs hello",
    "dispatch get runs hello 0b7c6e4a-9d1f-4c1e-8a53-2f0e4b1c7d9a -o yaml",
    "dispatch get runs hello --last -o json",
    "dispatch get runs -f",
    "dispatch get subscriptions",
    "dispatch get events --follow",
    "dispatch get deadletters orders",
  ]);
}
