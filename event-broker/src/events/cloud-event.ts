import { create, fromJson, toJson } from "@bufbuild/protobuf";
import { type Timestamp, TimestampSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { type CloudEvent, CloudEventSchema } from "@dispatch/proto";
import { typeSubjectProblem } from "../store/layout.js";
import { encodeHeaderValue } from "./header-values.js";

/**
 * CloudEvents 1.0 as the broker keeps them: the API's `CloudEvent` message
 * with the spec version set and the data as bytes (JSON data encoded, with
 * its content type), checked against the spec before anything is stored.
 */

/** The attributes with a field of their own; no extension may take these names (nor `data`). */
export const ownAttributes = new Set([
  "id",
  "source",
  "type",
  "specversion",
  "subject",
  "time",
  "datacontenttype",
  "dataschema",
]);

/** CloudEvents 1.0 §3.1.1: lowercase letters and digits; 20 at most, which delivery to a function needs. */
export const attributeName = /^[a-z0-9]{1,20}$/;

/** An RFC 9110 media type (`type/subtype`, parameters after `;`). */
const mediaTypePattern = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\t\x20-\x7e]*)?$/;

const controlOrSurrogate = "a control character or a lone surrogate";

/**
 * Why a value is not a CloudEvents String (§3.1.1 "Type System"), or
 * undefined when it is one: no control characters (U+0000–U+001F,
 * U+007F–U+009F), no lone surrogates, and no Unicode noncharacters
 * (U+FDD0–U+FDEF, and the last two code points of every plane).
 */
function notCloudEventsString(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return controlOrSurrogate;
    let codePoint = c;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return controlOrSurrogate;
      codePoint = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return controlOrSurrogate;
    }
    if ((codePoint >= 0xfdd0 && codePoint <= 0xfdef) || (codePoint & 0xfffe) === 0xfffe) {
      return "a noncharacter (U+FDD0–U+FDEF, or U+FFFE/U+FFFF of any plane)";
    }
  }
  return undefined;
}

/**
 * The most the attributes of one event may take (as percent-encoded `ce-`
 * headers): what a function's worker accepts in a request head beside the
 * call's secrets (the invoker checks the same limit before it delivers).
 */
export const maxAttributeBytes = 16 * 1024;

/**
 * What is wrong with an event (each a sentence naming the attribute and the
 * fix); empty when it may be stored.
 */
export function eventProblems(event: CloudEvent): string[] {
  const problems: string[] = [];
  for (const name of ["id", "source", "type"] as const) {
    if (event[name] === "")
      problems.push(`${name} is required (CloudEvents 1.0: id, source, type and specversion)`);
  }
  if (event.specversion !== "1.0") {
    problems.push(
      event.specversion === ""
        ? 'specversion is required: set it to "1.0"'
        : `specversion "${event.specversion}" is not supported: Dispatch takes CloudEvents 1.0 (specversion "1.0")`,
    );
  }
  const typeProblem = typeSubjectProblem(event.type);
  if (typeProblem) problems.push(`type ${typeProblem}`);
  const strings: [string, string][] = [
    ["id", event.id],
    ["source", event.source],
    ["type", event.type],
    ["subject", event.subject],
    ["dataschema", event.dataschema],
    ...Object.entries(event.extensions),
  ];
  for (const [name, value] of strings) {
    const what = notCloudEventsString(value);
    if (what) problems.push(`${name} holds ${what}, which a CloudEvents String may not`);
  }
  if (event.dataschema !== "" && !isAbsoluteUri(event.dataschema)) {
    problems.push(`dataschema "${event.dataschema}" is not an absolute URI`);
  }
  for (const name of Object.keys(event.extensions)) {
    if (!attributeName.test(name)) {
      problems.push(
        `extension "${name}" is not a valid attribute name: use 1 to 20 lowercase letters and digits`,
      );
    } else if (ownAttributes.has(name) || name === "data" || name === "data_base64") {
      problems.push(`extension "${name}" takes the name of an attribute of the event`);
    }
  }
  const contentType = event.datacontenttype;
  if (contentType !== "" && !mediaTypePattern.test(contentType)) {
    problems.push(
      `datacontenttype ${JSON.stringify(contentType)} is not a media type (e.g. application/json)`,
    );
  }
  if (event.time) {
    try {
      toJson(TimestampSchema, event.time);
    } catch {
      problems.push("time is not a time an RFC 3339 timestamp can show (years 1 to 9999)");
    }
  }
  const bytes = attributeBytes(event);
  if (bytes > maxAttributeBytes) {
    problems.push(
      `its attributes take ${bytes} bytes; the limit is ${maxAttributeBytes} (put large values in the data)`,
    );
  }
  return problems;
}

function isAbsoluteUri(value: string): boolean {
  try {
    new URL(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bytes the attributes take as `ce-` header lines (`ce-<name>: <value>\r\n`),
 * values percent-encoded as they travel: a non-ASCII character takes up to
 * nine bytes there (`%E2%82%AC`), a space three.
 */
function attributeBytes(event: CloudEvent): number {
  let sum = 0;
  const add = (name: string, value: string) => {
    if (value !== "") sum += name.length + encodeHeaderValue(value).length + 8;
  };
  add("id", event.id);
  add("source", event.source);
  add("type", event.type);
  add("specversion", event.specversion || "1.0");
  add("subject", event.subject);
  add("datacontenttype", event.datacontenttype);
  add("dataschema", event.dataschema);
  // RFC 3339 with nanoseconds at most.
  if (event.time) sum += "time".length + 30 + 8;
  for (const name in event.extensions) add(name, event.extensions[name] ?? "");
  return sum;
}

/**
 * The event as the broker stores it: data as bytes (JSON data encoded, its
 * content type `application/json` unless it names a JSON type), everything
 * else as given.
 */
export function normalizeEvent(event: CloudEvent): CloudEvent {
  if (event.data.case !== "jsonData") return event;
  return create(CloudEventSchema, {
    ...event,
    datacontenttype: event.datacontenttype || "application/json",
    data: {
      case: "binaryData",
      value: Buffer.from(JSON.stringify(toJson(ValueSchema, event.data.value))),
    },
  });
}

/** RFC 3339 text of a timestamp (as the JSON format and `ce-time` carry it). */
export function timeText(time: Timestamp): string {
  return toJson(TimestampSchema, time) as string;
}

/**
 * Every attribute and extension of an event by name, as strings (what
 * filters and CESQL see): `time` in RFC 3339, unset attributes absent.
 */
export function attributesOf(event: CloudEvent): Record<string, string> {
  const attributes: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(event.extensions)) attributes[name] = value;
  attributes.id = event.id;
  attributes.source = event.source;
  attributes.type = event.type;
  attributes.specversion = event.specversion || "1.0";
  if (event.subject !== "") attributes.subject = event.subject;
  if (event.datacontenttype !== "") attributes.datacontenttype = event.datacontenttype;
  if (event.dataschema !== "") attributes.dataschema = event.dataschema;
  if (event.time) {
    try {
      attributes.time = timeText(event.time);
    } catch {
      // Refused by eventProblems before it is stored.
    }
  }
  return attributes;
}

/** The data of an event as bytes (empty when it has none). */
export function dataBytes(event: CloudEvent): Uint8Array {
  switch (event.data.case) {
    case "binaryData":
      return event.data.value;
    case "jsonData":
      return Buffer.from(JSON.stringify(toJson(ValueSchema, event.data.value)));
    default:
      return new Uint8Array(0);
  }
}

/** An attribute's text that is not what its type needs (so far: a `time` that is not RFC 3339). */
export class AttributeTypeError extends Error {}

/**
 * Sets one attribute or extension of `event` from its text (a `ce-` header,
 * a JSON member): the attributes with a field of their own into it, `time`
 * parsed as RFC 3339 (else an {@link AttributeTypeError}), any other name as
 * an extension.
 */
export function setAttribute(event: CloudEvent, name: string, value: string): void {
  switch (name) {
    case "id":
    case "source":
    case "type":
    case "specversion":
    case "subject":
    case "dataschema":
    case "datacontenttype":
      event[name] = value;
      return;
    case "time":
      try {
        event.time = fromJson(TimestampSchema, value);
      } catch {
        throw new AttributeTypeError(
          `time "${value}" is not an RFC 3339 timestamp (e.g. 2026-01-02T03:04:05Z)`,
        );
      }
      return;
    default:
      event.extensions[name] = value;
  }
}
