import { toJson } from "@bufbuild/protobuf";
import { GetVersionResponseSchema } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { renderJson, renderYaml } from "../output/format.js";
import { clientVersion } from "../version.js";
import { examples } from "./shared.js";

/**
 * `dispatch version`: the client's version, then the server's. The client version
 * is printed even when the server cannot be reached (the command still fails).
 */
export function createVersionCommand(app: App): Command {
  const command = new Command("version")
    .description("Print the versions of this CLI and of the Dispatch server it talks to")
    .option("--client", "only this CLI's version: no server is asked")
    .action(async (options: { client?: boolean }, cmd: Command) => {
      const client = clientVersion();
      if (options.client) {
        const format = (await app.settingsFor(cmd)).output;
        app.io.stdout(
          format === "table"
            ? `Client: ${client}\n`
            : format === "json"
              ? renderJson({ client })
              : renderYaml({ client }),
        );
        return;
      }
      const session = await app.session(cmd);
      const format = session.settings.output;
      if (format === "table") {
        session.io.stdout(`Client: ${client}\n`);
        const server = await session.clients.system.getVersion({});
        const extra = [
          server.commit && `commit ${server.commit}`,
          server.node && `node ${server.node}`,
        ].filter(Boolean);
        session.io.stdout(
          `Server: ${server.version || "unknown"}${extra.length > 0 ? ` (${extra.join(", ")})` : ""}\n`,
        );
        return;
      }
      let server: ReturnType<typeof toJson> | undefined;
      let failure: unknown;
      try {
        server = toJson(GetVersionResponseSchema, await session.clients.system.getVersion({}), {
          alwaysEmitImplicit: true,
        });
      } catch (err) {
        failure = err;
      }
      const value = server === undefined ? { client } : { client, server };
      session.io.stdout(format === "json" ? renderJson(value) : renderYaml(value));
      if (failure) throw failure;
    });
  return examples(command, ["dispatch version", "dispatch version -o json", "dispatch version --client"]);
}
