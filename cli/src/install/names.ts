/**
 * The name rules of Kubernetes objects and DNS names (RFC 1123), which the
 * API server enforces: checked here so a bad namespace or host is reported
 * before anything is applied.
 */

const labelPattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS label: a namespace's or a Service's name. */
export function isDnsLabel(value: string): boolean {
  return value.length <= 63 && labelPattern.test(value);
}

/** A DNS subdomain: dot-separated labels, at most 253 characters (Secret and StorageClass names). */
export function isDnsSubdomain(value: string): boolean {
  return value.length > 0 && value.length <= 253 && value.split(".").every(isDnsLabel);
}

/** A host name a client may send, optionally with a leading wildcard label ("*.example.com"). */
export function isHostName(value: string): boolean {
  const rest = value.startsWith("*.") ? value.slice(2) : value;
  return rest.includes(".") ? isDnsSubdomain(rest) : isDnsLabel(rest);
}

/** A name close to `value` that is a DNS label, to suggest in an error. */
export function suggestLabel(value: string): string {
  const cleaned = value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/g, "");
  return cleaned === "" ? "dispatch" : cleaned;
}
