/**
 * CloudEvents HTTP binary mode carries each attribute in a `ce-<name>`
 * header whose value is percent-encoded (HTTP protocol binding §3.1.3.2).
 * Workers decode them; the platform encodes them when it delivers an event
 * to a worker's `POST /event` (`CONTRACT.md`). One codec for both sides.
 */

/** The prefix of the headers that carry a CloudEvent's attributes in binary mode. */
export const EVENT_HEADER_PREFIX = "ce-";

/** HTTP binding §3.1.3.2: encode space, `"`, `%` and anything outside U+0021–U+007E as UTF-8 bytes. */
export function encodeHeaderValue(value: string): string {
  // Most values need no escape at all: printable ASCII but space, '"' and '%'.
  if (/^[\x21\x23\x24\x26-\x7e]*$/.test(value)) return value;
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    out +=
      byte > 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * HTTP binding §3.1.3.2: unquote an RFC 7230 quoted-string, then percent-decode
 * once. Undefined when an escape does not decode to UTF-8.
 */
export function decodeHeaderValue(raw: string): string | undefined {
  const value =
    raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')
      ? raw.slice(1, -1).replace(/\\(.)/g, "$1")
      : raw;
  try {
    return decodeURIComponent(value);
  } catch {
    // Several SDKs send values without encoding them (cloudevents/spec#1397): a `%` that starts
    // no escape is such a value, taken as is. A real escape that is not UTF-8 is an error.
    if (/%(?![0-9A-Fa-f]{2})/.test(value)) return value;
    return undefined;
  }
}
