import { Command } from "commander";
import type { App } from "../app.js";
import { UsageError } from "../errors.js";
import { describeKinds, KINDS, kindByWord } from "../kinds/index.js";
import { runManifest } from "./apply.js";
import { takesKind } from "./completion.js";
import { warnSecretUsers } from "./secret-references.js";
import { createReporter, examples, forEachItem, isNotFound } from "./shared.js";

/** `dispatch delete KIND NAME…` or `dispatch delete -f FILE`. */
export function createDeleteCommand(app: App): Command {
  const command = takesKind(new Command("delete"))
    .summary("Delete objects by name or from a manifest")
    .description(
      `Delete objects by kind and name, or every object in a manifest. Kinds: ${describeKinds(KINDS.filter((k) => k.kind !== "Run"))}.`,
    )
    .argument("[kind]", "the kind of object (leave out with -f)")
    .argument("[names...]", "the objects to delete")
    .option("-f, --filename <file>", 'delete every object in this manifest ("-" reads stdin), last first')
    .option("--ignore-not-found", "objects that do not exist are not an error");
  command.action(
    async (
      word: string | undefined,
      names: string[],
      options: { filename?: string; ignoreNotFound?: boolean },
      cmd: Command,
    ) => {
      if (options.filename !== undefined) {
        if (word !== undefined) throw new UsageError("give either -f FILE or KIND NAME…, not both");
        await runManifest(app, cmd, "delete", options.filename, { timeout: 0, ...options });
        return;
      }
      if (word === undefined) throw new UsageError("say what to delete: KIND NAME… or -f FILE");
      const kind = kindByWord(word);
      if (names.length === 0) throw new UsageError(`name the ${kind.plural} to delete`);
      const session = await app.session(cmd);
      const ops = kind.ops(session.clients);
      const remove = ops.delete;
      if (!remove) throw new UsageError(`${kind.plural} cannot be deleted`);
      const org = session.orgFor(kind);
      const reporter = createReporter(session);
      const deleted: string[] = [];
      await forEachItem(
        session,
        names,
        (name) => `${kind.singular}/${name}`,
        async (name) => {
          try {
            reporter.report({ kind, name, org, action: "deleted", object: await remove({ org, name }) });
            deleted.push(name);
          } catch (err) {
            if (!(options.ignoreNotFound && isNotFound(err))) throw err;
          }
        },
      );
      if (kind.kind === "Secret") await warnSecretUsers(session, org, deleted);
      await reporter.finish();
    },
  );
  return examples(command, [
    "dispatch delete secret open-sesame",
    "dispatch delete fn hello goodbye",
    "dispatch delete -f seed.yaml",
    "dispatch delete api hello --ignore-not-found",
  ]);
}
