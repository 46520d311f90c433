import { type JsonObject, type JsonValue, type Message, toJson } from "@bufbuild/protobuf";
import type { OutputFormat } from "../config.js";
import type { Kind } from "../kinds/index.js";
import { yaml } from "../yaml.js";
import { formatTable } from "./table.js";

/**
 * An object as `-o json` prints it: `kind` first, then the protobuf JSON form of
 * the message (`meta`, `spec`, `status`, …). This is also what `apply -f` reads back.
 */
export function objectJson(kind: Kind, object: Message): JsonObject {
  const json = toJson(kind.schema, object) as JsonObject;
  return { kind: kind.kind, ...json };
}

/** JSON with two-space indents and a final newline. */
export function renderJson(value: JsonValue): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** YAML 1.2 that the manifest parser reads back unchanged. */
export function renderYaml(value: JsonValue): string {
  // lineWidth 0: never fold long strings (certificates, CESQL) across lines.
  return yaml().stringify(value, { lineWidth: 0 });
}

/**
 * One record of a stream (`get runs --follow`, `logs -o json`): a JSON line, or a
 * YAML document that starts with `---`, so the output can be read as it comes.
 */
export function renderRecord(format: "json" | "yaml", value: JsonValue): string {
  return format === "json" ? `${JSON.stringify(value)}\n` : `---\n${renderYaml(value)}`;
}

/** How to print the result of a `get`. */
export interface RenderOptions {
  /** The user named exactly one object: print it alone, not as `{items: [...]}`. */
  single: boolean;
  /** "Now" for AGE columns; tests pass a fixed date. */
  now?: Date;
}

/**
 * Renders objects of one kind in the chosen format: a table (the kind's columns),
 * or JSON/YAML as one object (`single`) or as `{ "items": [...] }`.
 */
export function renderObjects(
  format: OutputFormat,
  kind: Kind,
  objects: readonly Message[],
  options: RenderOptions,
): string {
  if (format === "table") {
    const now = options.now ?? new Date();
    return formatTable(
      kind.columns.map((c) => c.header),
      objects.map((o) => kind.columns.map((c) => c.value(o, now))),
    );
  }
  const first = objects[0];
  const value: JsonValue =
    options.single && objects.length === 1 && first
      ? objectJson(kind, first)
      : { items: objects.map((o) => objectJson(kind, o)) };
  return format === "json" ? renderJson(value) : renderYaml(value);
}
