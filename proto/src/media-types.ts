/**
 * Media types as the API reads them (`datacontenttype`, `content-type`):
 * what the control plane, the event broker and the CLI agree on, and what the
 * workers do with a body (runtimes/CONTRACT.md: JSON for these types).
 */

/** The media type of a `content-type` value, lower-cased, without parameters. */
export function mediaType(contentType: string): string {
  return (contentType.split(";")[0] ?? "").trim().toLowerCase();
}

/** `application/json` and any `+json` type (CloudEvents JSON format §3.1). */
export function isJsonMediaType(contentType: string): boolean {
  const type = mediaType(contentType);
  return type === "application/json" || type.endsWith("+json");
}
