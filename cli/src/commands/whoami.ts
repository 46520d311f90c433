import { type JsonObject, toJson } from "@bufbuild/protobuf";
import { TokenSchema } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { CommandError } from "../errors.js";
import { roleName } from "../kinds/index.js";
import { renderJson, renderYaml } from "../output/format.js";
import { formatColumns } from "../output/table.js";
import { examples } from "./shared.js";

/** `dispatch whoami`: the token the CLI authenticates with, as the server sees it. */
export function createWhoAmICommand(app: App): Command {
  const command = new Command("whoami")
    .description("Show which token the CLI uses: its name, org and role, and the server and context")
    .action(async (_options: unknown, cmd: Command) => {
      const session = await app.session(cmd);
      const { token } = await session.clients.tokens.whoAmI({});
      if (!token) throw new CommandError("the server's response has no token");
      const format = session.settings.output;
      if (format !== "table") {
        const value: JsonObject = { kind: "Token", ...(toJson(TokenSchema, token) as JsonObject) };
        session.io.stdout(format === "json" ? renderJson(value) : renderYaml(value));
        return;
      }
      const rows = [
        ["token:", token.name],
        ["org:", token.org || "(every org)"],
        ["role:", roleName(token.role)],
        ["server:", session.settings.server],
        ["context:", session.settings.contextName ?? "(none)"],
      ];
      session.io.stdout(formatColumns(rows));
    });
  return examples(command, ["dispatch whoami", "dispatch whoami -o json"]);
}
