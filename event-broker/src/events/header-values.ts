/**
 * Attribute values in `ce-` headers (CloudEvents HTTP binding §3.1.3.2, and
 * the NATS binding's binary mode, which the broker stores events in).
 * Encoding is the runtimes' (one codec with the workers); decoding here is
 * strict, for input from outside: an escape that is not `%XX`, or bytes that
 * are not UTF-8 (an overlong form too), make the value unreadable.
 */
export { encodeHeaderValue } from "@dispatch/runtimes";

/**
 * The value of a `ce-` header: an RFC 7230 quoted-string unquoted, then
 * percent-decoded once; undefined when it is not valid percent-encoded UTF-8.
 * A raw character above U+007E is refused too (§3.1.3.2: the sender MUST
 * encode it): an HTTP header carries bytes, which Node reads as Latin-1, so
 * raw UTF-8 would be stored garbled ("é" as "Ã©").
 */
export function decodeHeaderValueStrict(raw: string): string | undefined {
  const value =
    raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')
      ? raw.slice(1, -1).replace(/\\(.)/g, "$1")
      : raw;
  if (/[\x7f-\uffff]/.test(value)) return undefined;
  if (!value.includes("%")) return value;
  try {
    // Throws on `%` without two hex digits and on escapes that are not UTF-8 (overlong forms too).
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
