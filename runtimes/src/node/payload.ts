import type { IncomingHttpHeaders } from "node:http";

/** The media type of a `content-type` value, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** `application/json`, `text/json` and any `+json` type (as `@dispatch/proto`'s `isJsonMediaType`). */
export function isJsonType(type: string): boolean {
  return type === "application/json" || type === "text/json" || type.endsWith("+json");
}

/**
 * The payload a raw HTTP body becomes (CONTRACT.md `/http`): JSON for JSON,
 * an object for a form, text for `text/*`, else a base64 string; `empty`
 * when there is no body. Throws `SyntaxError` for a JSON body that is not JSON.
 */
export function payloadFromBody(body: Buffer, contentType: string | undefined, empty: unknown): unknown {
  if (body.length === 0) return empty;
  const type = mediaType(contentType);
  if (isJsonType(type)) return JSON.parse(body.toString("utf8"));
  if (type === "application/x-www-form-urlencoded")
    return paramsObject(new URLSearchParams(body.toString("utf8")));
  if (type.startsWith("text/")) return body.toString("utf8");
  return body.toString("base64");
}

/** Query or form parameters as an object: a value per name, an array for a repeated name. */
export function paramsObject(params: URLSearchParams): Record<string, string | string[]> {
  const collected = new Map<string, string | string[]>();
  for (const [name, value] of params) {
    const seen = collected.get(name);
    collected.set(name, seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]);
  }
  return Object.fromEntries(collected);
}

/** Request headers with lower-case names and one string each (repeats joined with `, `). */
export function headersObject(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).flatMap(([name, value]) =>
      value === undefined ? [] : [[name, Array.isArray(value) ? value.join(", ") : value]],
    ),
  );
}

/** JSON text of `value`; throws when it has none (a function, a BigInt, a cycle). */
export function encodeJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new Error(
      `result cannot be encoded as JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (text === undefined) throw new Error(`result cannot be encoded as JSON: ${typeof value}`);
  return text;
}
