/**
 * Rules of the Dispatch API that its `.proto` files can only state in
 * comments: what a name may be and which runtimes a function may name. The
 * control plane validates with these, and clients (the CLI) check input
 * against the same values before sending it.
 */

/** A resource or org name: a lowercase DNS label (RFC 1123), as in DESIGN §3 and `ObjectMeta.name`. */
export const namePattern: RegExp = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The longest name, in characters (a DNS label's limit). */
export const maxNameLength = 63;

/**
 * Whether `value` is a valid name: {@link namePattern}, at most {@link maxNameLength} characters.
 *
 * @example
 * isName("hello-world"); // true
 * isName("Hello_World"); // false
 */
export function isName(value: string): boolean {
  return value.length <= maxNameLength && namePattern.test(value);
}

/** The runtimes a function may name in `spec.runtime`, in the order messages list them. */
export const functionRuntimes = ["nodejs", "python3"] as const;

/** One of {@link functionRuntimes}. */
export type FunctionRuntime = (typeof functionRuntimes)[number];

/** Whether `value` names one of {@link functionRuntimes}. */
export function isFunctionRuntime(value: string): value is FunctionRuntime {
  return (functionRuntimes as readonly string[]).includes(value);
}

/** The prefix of the Secrets whose values a broker accepts as ingest tokens. */
const ingestSecretPrefix = "events-ingest-";

/**
 * The Secret whose values a broker accepts as ingest tokens (producers send
 * events with one of them, without a Dispatch token that could do anything
 * else): `events-ingest-default` for the org's default broker. The event
 * broker reads it; the control plane lets a component reveal exactly these.
 */
export function ingestSecretName(broker: string): string {
  return `${ingestSecretPrefix}${broker}`;
}

/** Whether a Secret's name is that of a broker's ingest tokens ({@link ingestSecretName}). */
export function isIngestSecretName(name: string): boolean {
  return name.startsWith(ingestSecretPrefix) && isName(name.slice(ingestSecretPrefix.length));
}
