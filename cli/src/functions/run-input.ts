import type { JsonValue } from "@bufbuild/protobuf";
import { UsageError } from "../errors.js";

/**
 * Parses the input of `dispatch exec`: any JSON value, so `42`, `"text"` and
 * `[1, 2]` work as well as objects.
 *
 * @param what how to name the input in messages: `--input`, or the file's name.
 * @throws UsageError saying what is wrong, with a hint when a string lacks quotes.
 * @example
 * parseRunInput('{"name": "Jon"}', "--input"); // { name: "Jon" }
 */
export function parseRunInput(text: string, what: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    const trimmed = text.trim();
    const hint =
      trimmed === ""
        ? " (it is empty; give a JSON value such as {} or 42)"
        : /^[^{["\d-]/.test(trimmed) && !["true", "false", "null"].includes(trimmed)
          ? ` (a string needs JSON quotes: --input '${JSON.stringify(trimmed)}')`
          : "";
    throw new UsageError(`${what} is not valid JSON: ${(err as Error).message}${hint}`);
  }
}
