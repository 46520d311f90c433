import { isIP } from "node:net";
import { ConfigurationError } from "@dispatch/server-kit";
import type { AddressIR } from "../ir/ir.js";

/** How endpoints become Envoy configuration: addresses, names and defaults. */
export interface TranslateOptions {
  /**
   * Where a function with no ready instance is sent: the activator (an IP
   * address and port), and `token`, the Dispatch token the proxy presents
   * there (as `Dispatch-Token`). A token is only allowed with `warmPath:
   * "activator"`: then the activator is the only upstream, and no worker ever
   * sees it.
   */
  activator: AddressIR & { token?: string };
  /**
   * Where calls to a function with ready instances go. `"direct"` (default):
   * EDS lists the instances and the proxy calls them. `"activator"`: every
   * call goes through the activator, which passes the function's secrets and
   * records a Run (what `dispatch up` runs; see decision 0006). Switching
   * between the two changes load assignments and route headers only.
   */
  warmPath?: "direct" | "activator";
  /** The HTTP listener. */
  listener?: {
    /** Listener (and route configuration) name; default `dispatch-http`. */
    name?: string;
    /** Bind address; default `0.0.0.0`. */
    host?: string;
    /** Default 8080. */
    port?: number;
    /**
     * Whether the listener is the edge (default true): the client's address and
     * scheme are taken from the connection, not from X-Forwarded-* headers.
     */
    useRemoteAddress?: boolean;
    /** Proxies in front whose X-Forwarded-* headers are trusted; default 0. */
    xffNumTrustedHops?: number;
  };
  /** The org whose endpoints are served at the root; default `default`. */
  defaultOrg?: string;
  /** A route's deadline when neither the endpoint nor its functions set one; default 30 s. */
  defaultTimeoutMs?: number;
  /** Upstream connect timeout; default 5 s. */
  connectTimeoutMs?: number;
  /** How long fetched JWKS keys are cached; default 5 min. */
  jwksCacheMs?: number;
  /** Deadline of one JWKS fetch; default 5 s. */
  jwksFetchTimeoutMs?: number;
}

/** {@link TranslateOptions} with every default applied. */
export interface ResolvedTranslateOptions {
  activator: AddressIR;
  /** The activator's credential, set only with `warmPath: "activator"`. */
  activatorToken: string | undefined;
  warmPath: "direct" | "activator";
  listenerName: string;
  listenerHost: string;
  listenerPort: number;
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  defaultOrg: string;
  defaultTimeoutMs: number;
  connectTimeoutMs: number;
  jwksCacheMs: number;
  jwksFetchTimeoutMs: number;
}

/**
 * Applies defaults and checks the options, naming every bad one at once.
 *
 * @throws ConfigurationError when an option cannot produce a working configuration
 */
export function resolveTranslateOptions(options: TranslateOptions): ResolvedTranslateOptions {
  const resolved: ResolvedTranslateOptions = {
    activator: { host: options.activator.host, port: options.activator.port },
    activatorToken: options.activator.token,
    warmPath: options.warmPath ?? "direct",
    listenerName: options.listener?.name ?? "dispatch-http",
    listenerHost: options.listener?.host ?? "0.0.0.0",
    listenerPort: options.listener?.port ?? 8080,
    useRemoteAddress: options.listener?.useRemoteAddress ?? true,
    xffNumTrustedHops: options.listener?.xffNumTrustedHops ?? 0,
    defaultOrg: options.defaultOrg ?? "default",
    defaultTimeoutMs: options.defaultTimeoutMs ?? 30_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    jwksCacheMs: options.jwksCacheMs ?? 300_000,
    jwksFetchTimeoutMs: options.jwksFetchTimeoutMs ?? 5_000,
  };
  const errors: string[] = [];
  // EDS endpoints are not resolved by the proxy: an address must be an IP.
  if (isIP(resolved.activator.host) === 0) {
    errors.push(
      `activator.host "${resolved.activator.host}" must be an IP address (EDS does not resolve names)`,
    );
  }
  if (resolved.warmPath !== "direct" && resolved.warmPath !== "activator") {
    errors.push(`warmPath "${String(resolved.warmPath)}" must be "direct" or "activator"`);
  }
  if (resolved.activatorToken !== undefined && resolved.warmPath !== "activator") {
    errors.push(
      'activator.token needs warmPath "activator": with "direct" the proxy would send it to workers too',
    );
  }
  if (resolved.activatorToken !== undefined && !/^[\x21-\x7e]{16,512}$/.test(resolved.activatorToken)) {
    errors.push("activator.token must be 16 to 512 printable characters without spaces");
  }
  if (!isPort(resolved.activator.port))
    errors.push(`activator.port ${resolved.activator.port} is not a port`);
  if (isIP(resolved.listenerHost) === 0) {
    errors.push(`listener.host "${resolved.listenerHost}" must be an IP address to bind`);
  }
  if (!isPort(resolved.listenerPort)) errors.push(`listener.port ${resolved.listenerPort} is not a port`);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(resolved.listenerName)) {
    errors.push(`listener.name "${resolved.listenerName}" must be a lowercase DNS label`);
  }
  for (const key of ["defaultTimeoutMs", "connectTimeoutMs", "jwksCacheMs", "jwksFetchTimeoutMs"] as const) {
    const value = resolved[key];
    if (!Number.isInteger(value) || value <= 0)
      errors.push(`${key} must be a whole number of milliseconds above 0`);
  }
  if (!Number.isInteger(resolved.xffNumTrustedHops) || resolved.xffNumTrustedHops < 0) {
    errors.push("listener.xffNumTrustedHops must be a whole number, 0 or more");
  }
  if (errors.length > 0) throw new ConfigurationError(`bad translation options: ${errors.join("; ")}`);
  return resolved;
}

function isPort(port: number): boolean {
  return Number.isInteger(port) && port > 0 && port <= 65535;
}
