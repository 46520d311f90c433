import { StringDecoder } from "node:string_decoder";

/** The longest line a worker's output yields; a longer run of text without a newline is cut into lines this long. */
export const maxLineChars = 16 * 1024;

/**
 * Reads a worker's output stream as lines, calling `onLine` for each (without
 * its newline). Unlike `readline`, it never holds more than `maxChars` of a
 * line: a worker that writes megabytes without a newline costs the control
 * plane a line's worth of memory, not the whole stream's.
 */
export function readLines(
  stream: NodeJS.ReadableStream,
  onLine: (line: string) => void,
  maxChars: number = maxLineChars,
): void {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  const take = (text: string) => {
    pending += text;
    for (;;) {
      const newline = pending.indexOf("\n");
      if (newline >= 0 && newline <= maxChars) {
        onLine(pending.slice(0, newline).replace(/\r$/, ""));
        pending = pending.slice(newline + 1);
      } else if (pending.length > maxChars) {
        onLine(pending.slice(0, maxChars));
        pending = pending.slice(maxChars);
      } else {
        return;
      }
    }
  };
  stream.on("data", (chunk: Buffer | string) =>
    take(typeof chunk === "string" ? chunk : decoder.write(chunk)),
  );
  stream.on("end", () => {
    take(decoder.end());
    if (pending !== "") onLine(pending);
    pending = "";
  });
}
