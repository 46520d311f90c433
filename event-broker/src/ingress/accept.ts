import { Code, ConnectError } from "@connectrpc/connect";
import { type CloudEvent, isJsonMediaType } from "@dispatch/proto";
import { dataBytes, eventProblems, normalizeEvent } from "../events/cloud-event.js";
import { defaultBroker } from "../store/layout.js";

/**
 * What both doors of the broker (HTTP and `EventService.Emit`) accept: the
 * broker a request names, and events within the limits. A refusal is a
 * ConnectError (the HTTP ingress answers it with its HTTP status), and
 * nothing of the request is stored.
 */

/** The most events one Emit (or one HTTP batch) carries. */
export const maxBatchEvents = 1000;

/** The broker a request names ("" is the default one), or NotFound. */
export function brokerFor(org: string, broker: string): string {
  if (broker === "" || broker === defaultBroker) return defaultBroker;
  throw new ConnectError(
    `org "${org}" has no broker "${broker}": every org has the broker "default", and no other can be made yet`,
    Code.NotFound,
  );
}

/** Events already checked and normalized (the HTTP ingress's), within the batch and data limits. */
export function withinLimits(events: readonly CloudEvent[], maxEventBytes: number): readonly CloudEvent[] {
  checkCount(events);
  for (const [i, event] of events.entries()) checkSize(event, nameOf(events, i), maxEventBytes);
  return events;
}

/**
 * The events of an Emit, checked and normalized: the first problem (with the
 * event's place in the batch) is an InvalidArgument.
 */
export function checkedEvents(events: readonly CloudEvent[], maxEventBytes: number): CloudEvent[] {
  checkCount(events);
  return events.map((raw, i) => {
    const what = nameOf(events, i);
    if (raw.data.case === "jsonData" && raw.datacontenttype !== "" && !isJsonMediaType(raw.datacontenttype)) {
      throw new ConnectError(
        `${what}'s datacontenttype is "${raw.datacontenttype}" but its data is JSON (json_data): use a JSON type, or send binary_data`,
        Code.InvalidArgument,
      );
    }
    const event = normalizeEvent(raw.specversion === "" ? { ...raw, specversion: "1.0" } : raw);
    const problems = eventProblems(event);
    if (problems.length > 0) {
      throw new ConnectError(`${what} is not valid: ${problems.join("; ")}`, Code.InvalidArgument);
    }
    checkSize(event, what, maxEventBytes);
    return event;
  });
}

function nameOf(events: readonly CloudEvent[], i: number): string {
  return events.length === 1 ? "the event" : `event [${i}]`;
}

function checkCount(events: readonly CloudEvent[]): void {
  if (events.length > maxBatchEvents) {
    throw new ConnectError(
      `${events.length} events in one request; the limit is ${maxBatchEvents}`,
      Code.InvalidArgument,
    );
  }
}

function checkSize(event: CloudEvent, what: string, maxEventBytes: number): void {
  const size = dataBytes(event).length;
  if (size > maxEventBytes) {
    throw new ConnectError(
      `${what}'s data is ${size} bytes; the limit is ${maxEventBytes} (store large payloads elsewhere and send a reference)`,
      Code.ResourceExhausted,
    );
  }
}
