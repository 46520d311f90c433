import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { type CloudEvent, CloudEventSchema, isJsonMediaType } from "@dispatch/proto";
import { decodeHeaderValue, EVENT_HEADER_PREFIX, encodeHeaderValue } from "@dispatch/runtimes";
import type { Violations } from "../validation/violations.js";

/**
 * CloudEvents in the invoker: checking an event a run delivers, turning it
 * into a request in HTTP binary mode (CloudEvents HTTP protocol binding §3.1)
 * for a worker's `POST /event`, and reading a reply event back from the
 * worker's answer. Pure: no I/O.
 */

/** The attributes that have a field of their own (and `data`): no extension may take these names. */
const ownFields = new Set([
  "id",
  "source",
  "type",
  "specversion",
  "subject",
  "time",
  "datacontenttype",
  "dataschema",
  "data",
]);

/** CloudEvents 1.0 §3.1.1: lowercase letters and digits; 20 characters at most (a SHOULD we enforce). */
const attributeName = /^[a-z0-9]{1,20}$/;

/** An RFC 9110 media type (`type/subtype`, parameters after `;`), as `content-type` carries it. */
const mediaTypePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\t\x20-\x7e]*)?$/;

/**
 * The most the `ce-*` headers of one event may take: a worker reads a request
 * head of 64 KiB (runtimes/CONTRACT.md), which also holds the call's secrets
 * (at most 32 KiB).
 */
export const maxEventHeaderBytes = 16 * 1024;

/**
 * Adds a violation (under `field`) for each thing wrong with an event a run is
 * to deliver: the required attributes, the spec version, attribute names, a
 * `datacontenttype` HTTP cannot carry or that does not fit JSON data, and
 * attributes too large for a request head.
 */
export function checkCloudEvent(v: Violations, field: string, event: CloudEvent): void {
  for (const name of ["id", "source", "type"] as const) {
    if (event[name] === "") v.add(`${field}.${name}`, "is required (CloudEvents 1.0: id, source and type)");
  }
  if (event.specversion !== "" && event.specversion !== "1.0") {
    v.add(`${field}.specversion`, `"${event.specversion}" is not supported (use 1.0, or leave it empty)`);
  }
  for (const name of Object.keys(event.extensions)) {
    if (!attributeName.test(name)) {
      v.add(
        `${field}.extensions.${name}`,
        "is not a CloudEvents attribute name: use 1 to 20 lowercase letters and digits",
      );
    } else if (ownFields.has(name)) {
      v.add(
        `${field}.extensions.${name}`,
        name === "data"
          ? "is the event's data: set binary_data or json_data instead"
          : `is an attribute of its own: set ${field}.${name} instead`,
      );
    }
  }
  const contentType = event.datacontenttype;
  if (contentType !== "" && !mediaTypePattern.test(contentType)) {
    v.add(
      `${field}.datacontenttype`,
      `${JSON.stringify(contentType)} is not a media type (e.g. application/json)`,
    );
  } else if (event.data.case === "jsonData" && contentType !== "" && !isJsonMediaType(contentType)) {
    v.add(
      `${field}.datacontenttype`,
      `is "${contentType}" but the data is JSON (json_data): use application/json, or send binary_data`,
    );
  }
  if (event.time) {
    try {
      toJson(TimestampSchema, event.time);
    } catch {
      v.add(`${field}.time`, "is not a time an RFC 3339 timestamp can show (years 1 to 9999)");
    }
  }
  const headerBytes = Object.entries(eventHeaders(event)).reduce(
    (sum, [name, value]) => sum + name.length + value.length + 4,
    0,
  );
  if (headerBytes > maxEventHeaderBytes) {
    v.add(
      field,
      `its attributes take ${headerBytes} bytes as ce- headers; the limit is ${maxEventHeaderBytes} (put large values in the data)`,
    );
  }
}

/** The event as it is delivered and recorded: spec version 1.0, JSON data with a JSON content type. */
export function normalizeCloudEvent(event: CloudEvent): CloudEvent {
  return create(CloudEventSchema, {
    ...event,
    specversion: event.specversion || "1.0",
    datacontenttype:
      event.datacontenttype === "" && event.data.case === "jsonData"
        ? "application/json"
        : event.datacontenttype,
  });
}

/** The event's attributes as binary-mode headers (`ce-*`, and `content-type` for datacontenttype). */
function eventHeaders(event: CloudEvent): Record<string, string> {
  const headers: Record<string, string> = {};
  const put = (name: string, value: string) => {
    if (value !== "") headers[`${EVENT_HEADER_PREFIX}${name}`] = encodeHeaderValue(value);
  };
  put("id", event.id);
  put("source", event.source);
  put("type", event.type);
  put("specversion", event.specversion || "1.0");
  put("subject", event.subject);
  if (event.time) {
    try {
      put("time", toJson(TimestampSchema, event.time) as string);
    } catch {
      // Refused by checkCloudEvent before any delivery.
    }
  }
  put("dataschema", event.dataschema);
  for (const [name, value] of Object.entries(event.extensions)) put(name, value);
  if (event.datacontenttype !== "") headers["content-type"] = event.datacontenttype;
  return headers;
}

/**
 * The event as a request in HTTP binary mode: attributes in `ce-*` headers
 * (HTTP binding §3.1.3), `datacontenttype` as `content-type`, the data as
 * the body (bytes as they are, JSON encoded).
 */
export function eventRequest(event: CloudEvent): { headers: Record<string, string>; body: Buffer } {
  const headers = eventHeaders(event);
  switch (event.data.case) {
    case "binaryData":
      return { headers, body: Buffer.from(event.data.value) };
    case "jsonData":
      return { headers, body: Buffer.from(JSON.stringify(toJson(ValueSchema, event.data.value))) };
    default:
      return { headers, body: Buffer.alloc(0) };
  }
}

/**
 * The payload a handler receives for the event, when it is JSON (for the
 * function's input schema): JSON data, or bytes of a JSON content type (as
 * the broker delivers them: the data exactly as sent) that parse.
 */
export function eventJsonData(event: CloudEvent): JsonValue | undefined {
  if (event.data.case === "jsonData") return toJson(ValueSchema, event.data.value);
  if (event.data.case === "binaryData" && isJsonMediaType(event.datacontenttype)) {
    try {
      return JSON.parse(Buffer.from(event.data.value).toString("utf8")) as JsonValue;
    } catch {
      // The worker answers that the data is not JSON (an InputError).
      return undefined;
    }
  }
  return undefined;
}

/** A reply event the worker sent cannot be recorded (a FunctionError: the handler's result is at fault). */
export class InvalidReplyError extends Error {}

/**
 * The reply event in a worker's answer to `POST /event`, or undefined when the
 * answer is not an event (binary mode is recognised by `ce-specversion`, HTTP
 * binding §3.1). Throws {@link InvalidReplyError} when it is an event that
 * cannot be read: a missing required attribute, a time that is not RFC 3339,
 * JSON data that is not JSON.
 */
export function replyEvent(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): CloudEvent | undefined {
  if (headers[`${EVENT_HEADER_PREFIX}specversion`] === undefined) return undefined;
  const reply = create(CloudEventSchema);
  for (const [header, raw] of Object.entries(headers)) {
    if (!header.startsWith(EVENT_HEADER_PREFIX) || raw === undefined) continue;
    const name = header.slice(EVENT_HEADER_PREFIX.length);
    const value = decodeHeaderValue(Array.isArray(raw) ? raw.join(",") : raw);
    if (value === undefined) throw new InvalidReplyError(`its ${name} is not valid percent-encoded UTF-8`);
    switch (name) {
      case "id":
      case "source":
      case "type":
      case "specversion":
      case "subject":
      case "dataschema":
        reply[name] = value;
        break;
      case "time":
        try {
          reply.time = fromJson(TimestampSchema, value);
        } catch {
          throw new InvalidReplyError(`its time "${value}" is not an RFC 3339 time`);
        }
        break;
      default:
        reply.extensions[name] = value;
    }
  }
  for (const name of ["id", "source", "type"] as const) {
    if (reply[name] === "") throw new InvalidReplyError(`it has no ${name}`);
  }
  const contentType = headers["content-type"];
  reply.datacontenttype = typeof contentType === "string" ? contentType : "";
  if (body.length > 0) {
    if (isJsonMediaType(reply.datacontenttype)) {
      let data: JsonValue;
      try {
        data = JSON.parse(body.toString("utf8")) as JsonValue;
      } catch {
        throw new InvalidReplyError(`its data is declared ${reply.datacontenttype} but is not JSON`);
      }
      reply.data = { case: "jsonData", value: fromJson(ValueSchema, data) };
    } else {
      reply.data = { case: "binaryData", value: new Uint8Array(body) };
    }
  }
  return reply;
}
