import test from "ava";
import { InvalidArgumentError } from "commander";
import { parseBackendFlag, parseRateLimitFlag } from "./endpoint-flags.js";

test("--backend FUNCTION=WEIGHT collects in order; anything else says the form", (t) => {
  t.deepEqual(parseBackendFlag("b=10", parseBackendFlag("a=90")), [
    ["a", 90],
    ["b", 10],
  ]);
  t.throws(() => parseBackendFlag("a"), { instanceOf: InvalidArgumentError, message: /FUNCTION=WEIGHT/ });
  t.throws(() => parseBackendFlag("a=-1"), { instanceOf: InvalidArgumentError });
});

test("--rate-limit N/DURATION: a unit alone means one of it", (t) => {
  t.deepEqual(parseRateLimitFlag("100/s"), { requests: 100, perMs: 1000 });
  t.deepEqual(parseRateLimitFlag("600/1m"), { requests: 600, perMs: 60_000 });
  t.deepEqual(parseRateLimitFlag("5/10s"), { requests: 5, perMs: 10_000 });
  for (const bad of ["lots", "0/s", "10/", "10/never", "/s"]) {
    t.throws(() => parseRateLimitFlag(bad), { instanceOf: InvalidArgumentError }, bad);
  }
});
