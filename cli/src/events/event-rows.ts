import { type JsonObject, toJson, toJsonString } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  type CloudEvent,
  type DeadLetter,
  DeadLetterSchema,
  type StoredEvent,
  StoredEventSchema,
} from "@dispatch/proto";
import { shorten } from "../kinds/columns.js";
import { formatAge, formatTime } from "../output/time.js";

/** The columns of `get events`. */
export const EVENT_HEADERS = ["TIME", "ID", "TYPE", "SOURCE", "SUBJECT", "DATA"] as const;

/** The column widths of `get events --follow`, which prints a row at a time: a UUID fits ID. */
export const EVENT_WIDTHS = [20, 36, 28, 16, 12] as const;

/** The size of an event's data in bytes (JSON data as its JSON text); undefined without data. */
export function dataSize(event: CloudEvent | undefined): number | undefined {
  const data = event?.data;
  if (data?.case === "binaryData") return data.value.length;
  if (data?.case === "jsonData")
    return new TextEncoder().encode(toJsonString(ValueSchema, data.value)).length;
  return undefined;
}

/** One row of `get events`: when it happened (else when it was stored), id, type, source, subject, data size. */
export function eventRow(stored: StoredEvent): string[] {
  const event = stored.event;
  const size = dataSize(event);
  return [
    formatTime(event?.time ?? stored.stored),
    event?.id ?? "",
    event?.type ?? "",
    event?.source ?? "",
    event?.subject || "-",
    size === undefined ? "-" : `${size}B`,
  ];
}

/** A stored event as `-o json|yaml` prints it: the API's JSON form. */
export function storedEventJson(stored: StoredEvent): JsonObject {
  return toJson(StoredEventSchema, stored) as JsonObject;
}

/** The columns of `get deadletters`. */
export const DEAD_LETTER_HEADERS = ["ID", "TYPE", "SOURCE", "ATTEMPTS", "FAILED", "ERROR"] as const;

/** One row of `get deadletters`; the error's first line, cut to fit a terminal. */
export function deadLetterRow(letter: DeadLetter, now: Date): string[] {
  const event = letter.event?.event;
  return [
    event?.id ?? "",
    event?.type ?? "",
    event?.source ?? "",
    String(letter.attempts),
    formatAge(letter.failed, now),
    shorten(letter.lastError, 60) || "-",
  ];
}

/** A dead letter as `-o json|yaml` prints it: the API's JSON form, the error whole. */
export function deadLetterJson(letter: DeadLetter): JsonObject {
  return toJson(DeadLetterSchema, letter) as JsonObject;
}
