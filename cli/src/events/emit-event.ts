import { extname } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type CloudEvent, CloudEventSchema, isJsonMediaType } from "@dispatch/proto";
import { InvalidArgumentError } from "commander";
import { UsageError } from "../errors.js";
import { parseTime } from "../output/time.js";

/** The flags of `dispatch emit` that make the event. */
export interface EmitEventFlags {
  data?: string;
  dataFile?: string;
  /** Default "dispatch-cli". */
  source?: string;
  subject?: string;
  /** Default: a random UUID. */
  id?: string;
  contentType?: string;
  extension?: [string, string][];
  /** Default: now. */
  time?: Date;
}

/** The source of events the CLI sends unless `--source` says another. */
export const DEFAULT_SOURCE = "dispatch-cli";

/** What the event is made with besides the flags: the bytes of `--data-file`, the clock and the id maker. */
export interface EmitEventInputs {
  /** The contents of `--data-file`, as they are. */
  file?: Uint8Array;
  now: Date;
  newId(): string;
}

/** CloudEvents context attributes, which an extension cannot be named (CloudEvents 1.0 §3.1, and `data`). */
const reservedNames = new Set([
  "id",
  "source",
  "specversion",
  "type",
  "datacontenttype",
  "dataschema",
  "subject",
  "time",
  "data",
]);

/** Media types by file extension, for `--data-file` without `--content-type`. */
const mediaTypes: Record<string, string> = {
  ".json": "application/json",
  ".txt": "text/plain",
  ".csv": "text/csv",
  ".html": "text/html",
  ".xml": "application/xml",
  ".yaml": "application/yaml",
  ".yml": "application/yaml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".pdf": "application/pdf",
};

/** The media type of a data file by its extension; `application/octet-stream` when unknown. */
export function contentTypeOf(path: string): string {
  return mediaTypes[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** Parses one `--extension NAME=VALUE` and adds it to the ones before. */
export function parseExtensionFlag(value: string, previous: [string, string][] = []): [string, string][] {
  const eq = value.indexOf("=");
  const name = eq > 0 ? value.slice(0, eq) : "";
  if (!/^[a-z0-9]{1,20}$/.test(name)) {
    throw new InvalidArgumentError(
      `"${value}" is not NAME=VALUE with a NAME of 1 to 20 lowercase letters and digits, e.g. traceparent=00-4bf9…`,
    );
  }
  if (reservedNames.has(name)) {
    throw new InvalidArgumentError(
      `"${name}" is an attribute of every event, not an extension: use --${name === "datacontenttype" ? "content-type" : name}.`,
    );
  }
  return [...previous, [name, value.slice(eq + 1)]];
}

/** Parses `--time`: an RFC 3339 time. */
export function parseTimeFlag(value: string): Date {
  const time = parseTime(value);
  if (time === undefined)
    throw new InvalidArgumentError("use an RFC 3339 time such as 2025-06-01T12:00:00Z.");
  return time;
}

/**
 * The CloudEvent `dispatch emit TYPE` sends. Data goes as bytes with its
 * media type in `datacontenttype`: `--data` is text, JSON unless
 * `--content-type` says otherwise (and then checked to be JSON); `--data-file`
 * is sent as it is, its type from `--content-type` or the file's extension.
 * Without either there is no data.
 *
 * @throws UsageError for flags that do not go together or data that is not what it says.
 */
export function emitEvent(type: string, flags: EmitEventFlags, inputs: EmitEventInputs): CloudEvent {
  if (type.trim() === "") throw new UsageError("give the event's TYPE, e.g. com.example.order.created");
  if (flags.data !== undefined && flags.dataFile !== undefined) {
    throw new UsageError("give --data or --data-file, not both");
  }
  const event = create(CloudEventSchema, {
    id: flags.id ?? inputs.newId(),
    source: flags.source ?? DEFAULT_SOURCE,
    type,
    specversion: "1.0",
    subject: flags.subject ?? "",
    time: timestampFromDate(flags.time ?? inputs.now),
    extensions: Object.fromEntries(flags.extension ?? []),
  });
  if (event.id === "") throw new UsageError("--id must not be empty");
  if (event.source === "") throw new UsageError("--source must not be empty");
  if (flags.data !== undefined) {
    const contentType = flags.contentType ?? "application/json";
    if (isJsonMediaType(contentType)) {
      try {
        JSON.parse(flags.data);
      } catch (err) {
        throw new UsageError(
          `--data is not valid JSON (${(err as Error).message}); for other text give --content-type, e.g. text/plain`,
        );
      }
    }
    event.datacontenttype = contentType;
    event.data = { case: "binaryData", value: new TextEncoder().encode(flags.data) };
  } else if (flags.dataFile !== undefined) {
    if (inputs.file === undefined) throw new Error("emitEvent: --data-file was given without its contents");
    event.datacontenttype = flags.contentType ?? contentTypeOf(flags.dataFile);
    event.data = { case: "binaryData", value: inputs.file };
  } else if (flags.contentType !== undefined) {
    throw new UsageError("--content-type says what the data is: give --data or --data-file with it");
  }
  return event;
}
