/**
 * Media types as the API reads them (`datacontenttype`, `content-type`):
 * what the control plane, the event broker and the CLI agree on, and what the
 * workers do with a body (runtimes/CONTRACT.md: JSON for these types).
 */

/** The media type of a `content-type` value, lower-cased, without parameters. */
export function mediaType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

/**
 * JSON: `application/json`, any `+json` type (CloudEvents JSON format §3.1),
 * and `text/json`, which senders still use (the CloudEvents SDKs read it as
 * JSON too). The control plane, the event broker, the CLI and every runtime's
 * worker read the same types as JSON (runtimes/CONTRACT.md).
 */
export function isJsonMediaType(contentType: string): boolean {
  const type = mediaType(contentType);
  return type === "application/json" || type === "text/json" || type.endsWith("+json");
}
