import type { Message } from "@bufbuild/protobuf";
import { Command } from "commander";
import type { App } from "../app.js";
import { UsageError } from "../errors.js";
import { describeKinds, KINDS, kindByWord } from "../kinds.js";
import { renderObjects } from "../output/format.js";
import { examples } from "./shared.js";

/** `dispatch get KIND [NAME…]`: list objects, or show named ones. */
export function createGetCommand(app: App): Command {
  const command = new Command("get")
    .summary("List objects of a kind, or show named ones")
    .description(
      `List objects of a kind, or show the named ones. Kinds: ${describeKinds(KINDS)}. ` +
        "Runs: get runs [FUNCTION [RUN_ID]]. -o yaml prints what apply -f reads back.",
    )
    .argument("<kind>", "the kind of object")
    .argument("[names...]", "show only these (for runs: FUNCTION, then RUN_ID)")
    .option("--reveal", "include secret values in -o json/yaml output (tables never show them)");
  command.action(async (word: string, names: string[], options: { reveal?: boolean }, cmd: Command) => {
    const kind = kindByWord(word);
    if (options.reveal && !kind.revealable)
      throw new UsageError(`--reveal applies to secrets, not ${kind.plural}`);
    if (kind.kind === "Run" && names.length > 2) {
      throw new UsageError("get runs takes at most FUNCTION and RUN_ID");
    }
    const session = await app.session(cmd);
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
        objects = await ops.list(fn === undefined ? { org } : { org, parent: fn });
      }
    } else if (names.length > 0) {
      objects = [];
      for (const name of names) objects.push(await ops.get({ org, name }, { reveal }));
      single = names.length === 1;
    } else {
      objects = await ops.list({ org }, { reveal });
    }

    if (format === "table" && objects.length === 0) {
      const where = kind.global ? "" : ` in org "${org || "default"}"`;
      session.io.stderr(`No ${kind.plural} found${where}.\n`);
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
    "dispatch get runs hello 0b7c6e4a -o yaml",
  ]);
}
