import { Command } from "commander";

/** The `dispatch up` command: composes every server in one process. */
export function createUpCommand(): Command {
  return new Command("up").description("Run Dispatch on this machine (placeholder, being written)");
}
