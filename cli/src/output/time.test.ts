import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import test from "ava";
import { formatDuration, formatTime, parseDuration, parseTime } from "./time.js";

test("parseDuration: units, compounds and bare seconds", (t) => {
  t.is(parseDuration("2m"), 120_000);
  t.is(parseDuration("1h30m"), 5_400_000);
  t.is(parseDuration("500ms"), 500);
  t.is(parseDuration("1.5s"), 1500);
  t.is(parseDuration("45"), 45_000);
});

test("parseDuration: anything else is not a duration", (t) => {
  t.is(parseDuration("2x"), undefined);
  t.is(parseDuration("m"), undefined);
  t.is(parseDuration("2m junk"), undefined);
  t.is(parseDuration(""), undefined);
});

test("formatDuration: milliseconds, seconds and minutes", (t) => {
  t.is(formatDuration({ seconds: 0n, nanos: 120_000_000 } as never), "120ms");
  t.is(formatDuration({ seconds: 3n, nanos: 250_000_000 } as never), "3.25s");
  t.is(formatDuration({ seconds: 250n, nanos: 0 } as never), "4m10s");
  t.is(formatDuration(undefined), "-");
});

test("parseTime: RFC 3339 with Z or an offset; no offset, no date, no time is refused", (t) => {
  t.is(parseTime("2025-06-01T12:00:00Z")?.toISOString(), "2025-06-01T12:00:00.000Z");
  t.is(parseTime("2025-06-01T14:00:00.5+02:00")?.toISOString(), "2025-06-01T12:00:00.500Z");
  for (const bad of ["2025-06-01", "2025-06-01T12:00:00", "yesterday", "2025-13-45T99:00:00Z", ""]) {
    t.is(parseTime(bad), undefined, bad);
  }
});

test("formatTime: UTC to the second", (t) => {
  t.is(formatTime(timestampFromMs(Date.UTC(2025, 5, 1, 12, 0, 0, 750))), "2025-06-01T12:00:00Z");
  t.is(formatTime(undefined), "-");
});
