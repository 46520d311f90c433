import { PassThrough } from "node:stream";
import test from "ava";
import { readLines } from "./line-reader.js";

function linesOf(chunks: Array<string | Buffer>, maxChars?: number): Promise<string[]> {
  const stream = new PassThrough();
  const lines: string[] = [];
  readLines(stream, (line) => lines.push(line), maxChars);
  return new Promise((resolve) => {
    stream.on("end", () => resolve(lines));
    for (const chunk of chunks) stream.write(chunk);
    stream.end();
  });
}

test("lines split across chunks come whole; CRLF and a last line without a newline too", async (t) => {
  t.deepEqual(await linesOf(["fir", "st\nsec", "ond\r\nthird"]), ["first", "second", "third"]);
});

test("a character split between chunks is decoded whole", async (t) => {
  const bytes = Buffer.from("é\n");
  t.deepEqual(await linesOf([bytes.subarray(0, 1), bytes.subarray(1)]), ["é"]);
});

test("text without a newline is cut at the limit, never held whole", async (t) => {
  const lines = await linesOf(["x".repeat(25), "\nend\n"], 10);
  t.deepEqual(lines, ["x".repeat(10), "x".repeat(10), "x".repeat(5), "end"]);
  t.true(lines.every((line) => line.length <= 10));
});
