import { create } from "@bufbuild/protobuf";
import { type CloudEvent, CloudEventSchema, isJsonMediaType, mediaType } from "@dispatch/proto";
import {
  AttributeTypeError,
  eventProblems,
  ownAttributes,
  setAttribute as setTypedAttribute,
} from "../events/cloud-event.js";
import { decodeHeaderValueStrict } from "../events/header-values.js";

/**
 * CloudEvents from an HTTP request (HTTP protocol binding 1.0.2): binary
 * mode (`ce-` headers, the body is the data), structured mode
 * (`application/cloudevents+json`) and batched mode
 * (`application/cloudevents-batch+json`). Every event is checked; the first
 * problem found is an {@link IngressError} with the status to answer and a
 * message that names the event and the attribute.
 */

/** A request the ingress refuses: its HTTP status and why, for the caller. */
export class IngressError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

const headerPrefix = "ce-";

/** The events a request carries (one, or a batch's), each checked and ready to store. */
export function eventsFromHttp(headers: Headers, body: Buffer): CloudEvent[] {
  const contentType = single(headers["content-type"]) ?? "";
  const type = mediaType(contentType);
  if (type.startsWith("application/cloudevents-batch")) {
    if (type !== "application/cloudevents-batch+json") {
      throw new IngressError(
        415,
        `${type} is not supported: send batches as application/cloudevents-batch+json`,
      );
    }
    const parsed = parseJson(body, "the batch");
    if (!Array.isArray(parsed)) {
      throw new IngressError(
        400,
        "the batch is not a JSON array of events (application/cloudevents-batch+json)",
      );
    }
    return parsed.map((item, i) =>
      checked(structuredEvent(item, `event [${i}] of the batch`), `event [${i}] of the batch`),
    );
  }
  if (type.startsWith("application/cloudevents")) {
    if (type !== "application/cloudevents+json") {
      throw new IngressError(
        415,
        `${type} is not supported: send structured events as application/cloudevents+json, or use binary mode`,
      );
    }
    return [checked(structuredEvent(parseJson(body, "the event"), "the event"), "the event")];
  }
  return [checked(binaryEvent(headers, contentType, body), "the event")];
}

function checked(event: CloudEvent, what: string): CloudEvent {
  const problems = eventProblems(event);
  if (problems.length > 0) throw new IngressError(400, `${what} is not valid: ${problems.join("; ")}`);
  return event;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(", ") : value;
}

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new IngressError(400, `${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Binary mode (§3.1): attributes in `ce-` headers, `content-type` is datacontenttype, the body is the data. */
function binaryEvent(headers: Headers, contentType: string, body: Buffer): CloudEvent {
  const event = create(CloudEventSchema);
  let any = false;
  for (const [header, raw] of Object.entries(headers)) {
    const lower = header.toLowerCase();
    if (!lower.startsWith(headerPrefix) || raw === undefined) continue;
    any = true;
    const name = lower.slice(headerPrefix.length);
    const value = decodeHeaderValueStrict(single(raw) ?? "");
    if (value === undefined) {
      throw new IngressError(
        400,
        `the header ${lower} is not valid percent-encoding (CloudEvents HTTP binding §3.1.3.2): write "%" as %25 and non-ASCII characters as %XX escapes of their UTF-8 bytes`,
      );
    }
    if (name === "datacontenttype") {
      throw new IngressError(
        400,
        "binary mode carries datacontenttype in Content-Type: send no ce-datacontenttype header",
      );
    }
    setAttribute(event, name, value, `the header ${lower}`);
  }
  if (!any) {
    throw new IngressError(
      400,
      "the request holds no CloudEvent: send binary mode (ce-id, ce-source, ce-type and ce-specversion headers, the data as the body) or structured mode (Content-Type: application/cloudevents+json)",
    );
  }
  if (contentType !== "") event.datacontenttype = contentType;
  if (body.length > 0) event.data = { case: "binaryData", value: new Uint8Array(body) };
  return event;
}

/** The JSON event format (JSON format §3): attributes and extensions as members, data or data_base64. */
function structuredEvent(value: unknown, what: string): CloudEvent {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new IngressError(400, `${what} is not a JSON object`);
  }
  const event = create(CloudEventSchema);
  const members = value as Record<string, unknown>;
  for (const [name, member] of Object.entries(members)) {
    // A null member is an attribute left unset (JSON format §2.4); data comes below.
    if (member === null || name === "data" || name === "data_base64") continue;
    const own = ownAttributes.has(name);
    let text: string;
    if (typeof member === "string") text = member;
    else if (!own && (typeof member === "boolean" || isCloudEventsInteger(member))) {
      text = String(member);
    } else {
      throw new IngressError(
        400,
        `${what}: ${name} must be ${
          own
            ? "a string"
            : "a string, a boolean or an integer from -2147483648 to 2147483647 (CloudEvents Integer; send other numbers as strings)"
        }`,
      );
    }
    setAttribute(event, name, text, `${what}: ${name}`);
  }
  const json = members.data ?? undefined;
  const base64 = members.data_base64 ?? undefined;
  if (json !== undefined && base64 !== undefined) {
    throw new IngressError(400, `${what} has both data and data_base64; send one`);
  }
  const data: { json: unknown } | { base64: unknown } | undefined =
    base64 !== undefined ? { base64 } : json !== undefined ? { json } : undefined;
  if (data && "base64" in data) {
    if (
      typeof data.base64 !== "string" ||
      !/^[A-Za-z0-9+/]*={0,2}$/.test(data.base64) ||
      data.base64.length % 4 !== 0
    ) {
      throw new IngressError(400, `${what}: data_base64 is not base64`);
    }
    event.data = { case: "binaryData", value: new Uint8Array(Buffer.from(data.base64, "base64")) };
  } else if (data) {
    const contentType = event.datacontenttype;
    if (contentType === "" || isJsonMediaType(contentType)) {
      // JSON data (JSON format §3.1): absent datacontenttype means application/json.
      event.datacontenttype ||= "application/json";
      event.data = { case: "binaryData", value: new Uint8Array(Buffer.from(JSON.stringify(data.json))) };
    } else {
      const text = typeof data.json === "string" ? data.json : JSON.stringify(data.json);
      event.data = { case: "binaryData", value: new Uint8Array(Buffer.from(text, "utf8")) };
    }
  }
  return event;
}

/**
 * A CloudEvents Integer (§3.1.1: 32-bit signed), which the JSON format gives
 * as a number. Others are refused rather than stored altered: JSON numbers
 * beyond 2^53 lose digits, and `String(1e21)` is "1e+21".
 */
function isCloudEventsInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31;
}

/** Sets one attribute or extension from its text; a value its type cannot take is a 400. */
function setAttribute(event: CloudEvent, name: string, value: string, where: string): void {
  try {
    setTypedAttribute(event, name, value);
  } catch (err) {
    if (err instanceof AttributeTypeError) throw new IngressError(400, `${where}: ${err.message}`);
    throw err;
  }
}
