import { Command } from "commander";
import type { App } from "../app.js";
import { renderJson, renderYaml } from "../output/format.js";
import { formatTable } from "../output/table.js";
import { examples } from "./shared.js";

/**
 * `dispatch status`: the running components, their URLs and health. With
 * `-o json|yaml` it prints only the component → URL map, for scripts.
 */
export function createStatusCommand(app: App): Command {
  const command = new Command("status")
    .summary("Show components, their URLs and health")
    .description(
      "Show the components of the running Dispatch, the URLs they serve and their health. " +
        '-o json prints only {"component": "url", …}.',
    )
    .action(async (_options: unknown, cmd: Command) => {
      const session = await app.session(cmd);
      const status = await session.clients.system.getStatus({});
      const format = session.settings.output;
      if (format !== "table") {
        const urls = Object.fromEntries(Object.entries(status.urls).sort(([a], [b]) => a.localeCompare(b)));
        session.io.stdout(format === "json" ? renderJson(urls) : renderYaml(urls));
        return;
      }
      const names = [
        ...new Set([...status.components.map((c) => c.name), ...Object.keys(status.urls)]),
      ].sort();
      const rows = names.map((name) => {
        const component = status.components.find((c) => c.name === name);
        const health = component === undefined ? "-" : component.healthy ? "healthy" : "unhealthy";
        return [name, status.urls[name] ?? "-", health, component?.message ?? ""];
      });
      if (status.version) session.io.stdout(`Dispatch ${status.version}\n\n`);
      session.io.stdout(formatTable(["COMPONENT", "URL", "HEALTH", "MESSAGE"], rows));
    });
  return examples(command, ["dispatch status", "dispatch status -o json | jq -r .gateway"]);
}
