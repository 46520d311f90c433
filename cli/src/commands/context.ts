import { Command } from "commander";
import type { App } from "../app.js";
import {
  type Config,
  type Context,
  configPath,
  type GlobalFlags,
  loadConfig,
  saveConfig,
} from "../config.js";
import { CommandError, UsageError } from "../errors.js";
import { renderJson, renderYaml } from "../output/format.js";
import { formatTable } from "../output/table.js";
import { examples } from "./shared.js";

/** `dispatch context`: list, select, add and remove saved servers. */
export function createContextCommand(app: App): Command {
  const command = new Command("context")
    .summary("List, select, add and remove saved servers")
    .description(
      "List the saved contexts (server, token, org), marking the current one. " +
        "Tokens are never printed. Subcommands select, add and remove contexts.",
    )
    .action(async (_options: unknown, cmd: Command) => {
      const { config, path } = await readConfig(app, cmd);
      const format = (await app.settingsFor(cmd)).output;
      const names = Object.keys(config.contexts).sort();
      if (format !== "table") {
        const contexts = Object.fromEntries(
          names.map((n) => [
            n,
            { server: config.contexts[n]?.server ?? "", org: config.contexts[n]?.org ?? "" },
          ]),
        );
        const value = { current: config.current ?? "", contexts };
        app.io.stdout(format === "json" ? renderJson(value) : renderYaml(value));
        return;
      }
      if (names.length === 0) {
        app.io.stderr(
          `No contexts in ${path}. Run "dispatch up", or "dispatch context set NAME --server URL --token TOKEN".\n`,
        );
        return;
      }
      const rows = names.map((n) => {
        const c = config.contexts[n] as Context;
        return [n === config.current ? "*" : "", n, c.server, c.org || "-"];
      });
      app.io.stdout(formatTable(["CURRENT", "NAME", "SERVER", "ORG"], rows));
    });

  const use = new Command("use")
    .description("Make a saved context the current one")
    .argument("<name>", "the context")
    .action(async (name: string, _options: unknown, cmd: Command) => {
      const { config, path } = await readConfig(app, cmd);
      requireContext(config, name, path);
      config.current = name;
      await saveConfig(config, path);
      app.io.stdout(`switched to context "${name}"\n`);
    });

  const set = new Command("set")
    .description(
      "Add a context, or change fields of an existing one, from the global --server, --token and --org flags " +
        "(the first context saved becomes current)",
    )
    .argument("<name>", "the context")
    .option("--use", "also make it the current context")
    .action(async (name: string, options: { use?: boolean }, cmd: Command) => {
      const flags = cmd.optsWithGlobals<GlobalFlags>();
      const { config, path } = await readConfig(app, cmd);
      const existing = config.contexts[name];
      if (!existing && !flags.server) throw new UsageError(`context "${name}" is new: give --server URL`);
      if (!existing && !flags.token) throw new UsageError(`context "${name}" is new: give --token TOKEN`);
      if (flags.server) checkServer(flags.server);
      const next: Context = {
        server: flags.server || existing?.server || "",
        token: flags.token || existing?.token || "",
      };
      const org = flags.org ?? existing?.org;
      if (org) next.org = org;
      config.contexts[name] = next;
      if (options.use || config.current === undefined) config.current = name;
      await saveConfig(config, path);
      app.io.stdout(`context "${name}" saved${config.current === name ? " (current)" : ""}\n`);
    });

  const remove = new Command("delete")
    .description("Remove a saved context")
    .argument("<name>", "the context")
    .action(async (name: string, _options: unknown, cmd: Command) => {
      const { config, path } = await readConfig(app, cmd);
      requireContext(config, name, path);
      delete config.contexts[name];
      if (config.current === name) delete config.current;
      await saveConfig(config, path);
      app.io.stdout(`context "${name}" deleted\n`);
    });

  command.addCommand(examples(use, ["dispatch context use local"]));
  command.addCommand(
    examples(set, [
      "dispatch context set local --server http://127.0.0.1:8080 --token $TOKEN --org default",
      "dispatch context set prod --server https://dispatch.example.com --token $PROD_TOKEN --use",
      "dispatch context set local --org acme",
    ]),
  );
  command.addCommand(examples(remove, ["dispatch context delete old"]));
  return examples(command, [
    "dispatch context",
    "dispatch context use prod",
    "dispatch --context prod get functions",
  ]);
}

async function readConfig(app: App, cmd: Command): Promise<{ config: Config; path: string }> {
  const path = configPath(cmd.optsWithGlobals<GlobalFlags>().config, app.io.env);
  return { config: await loadConfig(path), path };
}

function requireContext(config: Config, name: string, path: string): void {
  if (config.contexts[name]) return;
  const known = Object.keys(config.contexts).sort();
  throw new CommandError(
    `context "${name}" not found in ${path}${known.length > 0 ? ` (known: ${known.join(", ")})` : ""}`,
  );
}

function checkServer(server: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server "${server}" is not a URL (e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--server "${server}" must start with http:// or https://`);
  }
}
