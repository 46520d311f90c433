import { createHash, timingSafeEqual } from "node:crypto";

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
  return (presented) => timingSafeEqual(digest(presented), want);
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
