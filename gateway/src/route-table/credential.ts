import { hash } from "node:crypto";

/**
 * Headers that carry credentials. Token auth is expressed as routes whose
 * match requires `authorization` to equal `Bearer <token>` (see the package
 * README); an exact match on one of these headers compares SHA-256 digests in
 * constant time, so how long a refusal takes says nothing about how much of a
 * guessed token was right.
 */
export const credentialHeaders: ReadonlySet<string> = new Set(["authorization", "proxy-authorization"]);

/** A constant-time equality test against one expected value. */
export function credentialEquals(expected: string): (presented: string) => boolean {
  const want = digest(expected);
  return (presented) => {
    const got = digest(presented);
    // Every one of the 32 digest bytes is compared, whatever the first difference.
    let difference = 0;
    for (let i = 0; i < want.length; i++) difference |= got.charCodeAt(i) ^ want.charCodeAt(i);
    return difference === 0;
  };
}

/**
 * The SHA-256 digest as a 32-character binary (latin1) string: the one-shot hash with
 * no Buffer per request (a Hash object and a Buffer cost several times more).
 */
function digest(value: string): string {
  return hash("sha256", value, "binary");
}
