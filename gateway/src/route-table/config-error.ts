/**
 * A resource the gateway cannot apply. The xDS client answers the response that
 * carried it with a NACK whose `error_detail.message` is this message, and keeps
 * serving the last configuration it accepted.
 *
 * `path` names the offending field the way Envoy's own rejections do
 * (`virtual_hosts[0].routes[2].match.safe_regex`), so the message alone says
 * what to fix.
 */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(path === "" ? reason : `${path}: ${reason}`, options);
    this.name = "ConfigError";
  }
}

/** Prefixes a field path to every path in a thrown {@link ConfigError}. */
export function within<T>(prefix: string, compile: () => T): T {
  try {
    return compile();
  } catch (error) {
    if (error instanceof ConfigError) {
      const path =
        error.path === ""
          ? prefix
          : error.path.startsWith("[")
            ? prefix + error.path
            : `${prefix}.${error.path}`;
      throw new ConfigError(path, error.reason, { cause: error.cause });
    }
    throw error;
  }
}
