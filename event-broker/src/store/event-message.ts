import { create } from "@bufbuild/protobuf";
import { type CloudEvent, CloudEventSchema } from "@dispatch/proto";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/nats-core";
import { dataBytes, setAttribute, timeText } from "../events/cloud-event.js";
import { decodeHeaderValueStrict, encodeHeaderValue } from "../events/header-values.js";

/**
 * An event as a JetStream message: the NATS protocol binding's binary mode
 * (every attribute in a percent-encoded `ce-` header, `datacontenttype`
 * too; the body is the data, as sent). Header names are lower case.
 */

const prefix = "ce-";

/** The headers and body of the message that stores `event` (normalized: data as bytes). */
export function eventToMessage(event: CloudEvent): { headers: MsgHdrs; data: Uint8Array } {
  const headers = natsHeaders();
  const put = (name: string, value: string) => {
    if (value !== "") headers.set(`${prefix}${name}`, encodeHeaderValue(value));
  };
  put("id", event.id);
  put("source", event.source);
  put("type", event.type);
  put("specversion", event.specversion || "1.0");
  put("subject", event.subject);
  put("datacontenttype", event.datacontenttype);
  put("dataschema", event.dataschema);
  if (event.time) put("time", timeText(event.time));
  // An extension may be the empty string; it is kept.
  for (const name in event.extensions)
    headers.set(`${prefix}${name}`, encodeHeaderValue(event.extensions[name] ?? ""));
  return { headers, data: dataBytes(event) };
}

/** A stored message that does not hold a readable event (written by something else). */
export class UnreadableEventError extends Error {}

/** The event a stored message holds; its data as bytes. Throws {@link UnreadableEventError}. */
export function eventFromMessage(headers: MsgHdrs | undefined, data: Uint8Array): CloudEvent {
  const event = create(CloudEventSchema);
  if (!headers) throw new UnreadableEventError("the message has no headers");
  for (const key of headers.keys()) {
    const header = key.toLowerCase();
    if (!header.startsWith(prefix)) continue;
    const name = header.slice(prefix.length);
    const value = decodeHeaderValueStrict(headers.get(key));
    if (value === undefined)
      throw new UnreadableEventError(`its ${header} header is not percent-encoded UTF-8`);
    try {
      setAttribute(event, name, value);
    } catch (err) {
      throw new UnreadableEventError(`its ${(err as Error).message}`);
    }
  }
  if (event.id === "" || event.type === "" || event.source === "") {
    throw new UnreadableEventError("it has no id, source or type");
  }
  if (data.length > 0) event.data = { case: "binaryData", value: data };
  return event;
}
