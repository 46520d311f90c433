import { ConfigError } from "./config-error.js";

/**
 * Picks the virtual host for a Host header with Envoy's precedence: an exact
 * domain, then the longest suffix wildcard (`*.example.com`, `*-api.example.com`),
 * then the longest prefix wildcard (`api.*`), then `*`. A wildcard stands for at
 * least one character. Domains and hosts compare case-insensitively.
 */
export interface VirtualHostIndex<T> {
  find(host: string): T | undefined;
}

/** Builds the index; a domain listed twice (in one or two virtual hosts) is refused, as Envoy does. */
export function indexVirtualHosts<T>(
  hosts: readonly { domains: readonly string[]; value: T; name: string }[],
): VirtualHostIndex<T> {
  const exact = new Map<string, T>();
  const suffixes = new Map<number, Map<string, T>>();
  const prefixes = new Map<number, Map<string, T>>();
  let fallback: T | undefined;
  const seen = new Map<string, string>();
  hosts.forEach((host, i) => {
    host.domains.forEach((raw, j) => {
      const domain = raw.toLowerCase();
      const path = `virtual_hosts[${i}].domains[${j}]`;
      if (domain === "") throw new ConfigError(path, "a domain must not be empty");
      const first = seen.get(domain);
      if (first !== undefined) {
        throw new ConfigError(
          path,
          `only unique values for domains are permitted: ${JSON.stringify(raw)} is also in virtual host ${JSON.stringify(first)}`,
        );
      }
      seen.set(domain, host.name);
      if (domain === "*") {
        fallback = host.value;
      } else if (domain.startsWith("*")) {
        const suffix = domain.slice(1);
        bucket(suffixes, suffix.length).set(suffix, host.value);
      } else if (domain.endsWith("*")) {
        const prefix = domain.slice(0, -1);
        bucket(prefixes, prefix.length).set(prefix, host.value);
      } else {
        exact.set(domain, host.value);
      }
    });
  });
  const suffixLengths = [...suffixes.keys()].sort((a, b) => b - a);
  const prefixLengths = [...prefixes.keys()].sort((a, b) => b - a);
  return {
    find(rawHost) {
      const host = rawHost.toLowerCase();
      const hit = exact.get(host);
      if (hit !== undefined) return hit;
      for (const length of suffixLengths) {
        if (length >= host.length) continue;
        const found = suffixes.get(length)?.get(host.slice(host.length - length));
        if (found !== undefined) return found;
      }
      for (const length of prefixLengths) {
        if (length >= host.length) continue;
        const found = prefixes.get(length)?.get(host.slice(0, length));
        if (found !== undefined) return found;
      }
      return fallback;
    },
  };
}

function bucket<T>(map: Map<number, Map<string, T>>, length: number): Map<string, T> {
  let inner = map.get(length);
  if (!inner) {
    inner = new Map();
    map.set(length, inner);
  }
  return inner;
}

/** The host without its port: `example.com:8080` → `example.com`, `[::1]:80` → `[::1]`. */
export function stripPort(host: string): string {
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    return close === -1 ? host : host.slice(0, close + 1);
  }
  const colon = host.lastIndexOf(":");
  if (colon === -1 || host.indexOf(":") !== colon) return host;
  return /^[0-9]+$/.test(host.slice(colon + 1)) ? host.slice(0, colon) : host;
}
