import test from "ava";
import { formatDuration, parseDuration } from "./time.js";

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
