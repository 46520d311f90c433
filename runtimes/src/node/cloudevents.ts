import type { IncomingHttpHeaders } from "node:http";
import { validateHeaderValue } from "node:http";
import { decodeHeaderValue, EVENT_HEADER_PREFIX, encodeHeaderValue } from "../event-headers.js";
import { encodeJson, isJsonType, mediaType } from "./payload.js";

/** An event the worker cannot read; the call answers `400 InputError`. */
export class InvalidEventError extends Error {
  override name = "InputError";
}

const REQUIRED = ["specversion", "id", "source", "type"] as const;

/**
 * The attributes of a CloudEvent in HTTP binary mode (HTTP binding §3.1):
 * each `ce-<name>` header, percent-decoded, plus `datacontenttype` from
 * `content-type`. Throws {@link InvalidEventError} when a required attribute
 * is missing or a value is not valid percent-encoded UTF-8.
 */
export function eventAttributes(headers: IncomingHttpHeaders): Record<string, string> {
  const entries: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(EVENT_HEADER_PREFIX) || value === undefined) continue;
    const decoded = decodeHeaderValue(Array.isArray(value) ? value.join(",") : value);
    if (decoded === undefined) throw new InvalidEventError(`${name}: not valid percent-encoded UTF-8`);
    entries.push([name.slice(EVENT_HEADER_PREFIX.length), decoded]);
  }
  const contentType = headers["content-type"];
  if (contentType !== undefined) entries.push(["datacontenttype", contentType]);
  const attributes = Object.fromEntries(entries);
  const missing = REQUIRED.filter((name) => !attributes[name]);
  if (missing.length > 0) {
    throw new InvalidEventError(
      `not a CloudEvent in binary mode: missing ${missing.map((name) => `ce-${name}`).join(", ")}`,
    );
  }
  return attributes;
}

/** A handler result that the contract sends back as a reply event: `{type, source, data}`. */
export function isReplyEvent(
  value: unknown,
): value is Record<string, unknown> & { type: string; source: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const event = value as Record<string, unknown>;
  return typeof event.type === "string" && typeof event.source === "string" && "data" in event;
}

/**
 * A reply event in binary mode: `ce-*` headers (with `specversion` 1.0 and
 * a fresh `id` unless given) and `data` as the body. Throws when an
 * attribute is not a scalar or `data` cannot be encoded.
 */
export function encodeReplyEvent(event: Record<string, unknown>): {
  headers: Record<string, string>;
  body: Buffer;
} {
  const headers: Record<string, string> = { "ce-specversion": "1.0", "ce-id": crypto.randomUUID() };
  for (const [name, value] of Object.entries(event)) {
    if (name === "data" || name === "datacontenttype" || value === undefined || value === null) continue;
    if (!/^[a-z0-9]+$/.test(name))
      throw new Error(`reply event attribute "${name}" is not a CloudEvents name`);
    const text = value instanceof Date ? value.toISOString() : value;
    if (typeof text !== "string" && typeof text !== "number" && typeof text !== "boolean") {
      throw new Error(`reply event attribute "${name}" must be a string`);
    }
    headers[`ce-${name}`] = encodeHeaderValue(String(text));
  }
  const { data } = event;
  const declared = typeof event.datacontenttype === "string" ? event.datacontenttype : undefined;
  if (declared !== undefined) validateHeaderValue("datacontenttype", declared);
  if (data === undefined || data === null) return { headers, body: Buffer.alloc(0) };
  if (data instanceof Uint8Array) {
    headers["content-type"] = declared ?? "application/octet-stream";
    return { headers, body: Buffer.from(data) };
  }
  if (typeof data === "string" && !(declared !== undefined && isJsonType(mediaType(declared)))) {
    headers["content-type"] = declared ?? "text/plain; charset=utf-8";
    return { headers, body: Buffer.from(data) };
  }
  headers["content-type"] = declared ?? "application/json";
  return { headers, body: Buffer.from(encodeJson(data)) };
}
