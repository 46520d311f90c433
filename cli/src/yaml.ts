import { createRequire } from "node:module";
import type * as Yaml from "yaml";

const require = createRequire(import.meta.url);
let loaded: typeof Yaml | undefined;

/**
 * The `yaml` package, loaded the first time a command reads or writes YAML:
 * it is a large part of the CLI's start, and most commands never touch YAML.
 * (Its Node build is CommonJS, so `require` loads it at once, and
 * `renderYaml` and `parseManifest` stay synchronous.)
 */
export function yaml(): typeof Yaml {
  loaded ??= require("yaml") as typeof Yaml;
  return loaded;
}
