/**
 * The `dispatch` CLI as a library: what `dispatch up` and other tools need to
 * share the CLI's config file, and the entry point itself.
 *
 * @example
 * import { saveContext } from "@dispatch/cli";
 * await saveContext("local", { server: "http://127.0.0.1:8080", token, org: "default" }, { makeCurrent: true });
 */
export {
  type Config,
  type Context,
  configPath,
  DEFAULT_SERVER,
  loadConfig,
  type SaveContextOptions,
  saveConfig,
  saveContext,
} from "./config.js";
