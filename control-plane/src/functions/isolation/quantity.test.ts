import test from "ava";
import { Violations } from "../../validation/violations.js";
import { checkMemory, defaultMemoryBytes, memoryFlags, memoryLimitBytes } from "./memory-limit.js";
import { formatBytes, parseQuantity, QuantityError } from "./quantity.js";

test("quantities in Kubernetes syntax: binary and decimal suffixes, exponents, fractions", (t) => {
  t.is(parseQuantity("128Mi"), 128 * 2 ** 20);
  t.is(parseQuantity("1Gi"), 2 ** 30);
  t.is(parseQuantity("0.5Gi"), 2 ** 29);
  t.is(parseQuantity("1G"), 1e9);
  t.is(parseQuantity("500M"), 5e8);
  t.is(parseQuantity("100k"), 100_000);
  t.is(parseQuantity("134217728"), 134217728);
  t.is(parseQuantity("128e6"), 128e6);
  t.is(parseQuantity("1.5"), 2, "a fraction of a byte rounds up");
  t.is(parseQuantity("0.1k"), 100);
  t.is(parseQuantity("+1Ki"), 1024);
});

test("what is not a quantity is refused with the form to use", (t) => {
  for (const text of ["", "128MB", "Mi", "1 Gi", "1.2.3", "12mi", "0x10", "ten"]) {
    const error = t.throws(() => parseQuantity(text), { instanceOf: QuantityError }, text);
    t.regex(error?.message ?? "", /is not a quantity \(use a number with a unit, e\.g\. 128Mi/);
  }
});

test("bytes are shown in the largest binary unit that fits exactly", (t) => {
  t.is(formatBytes(128 * 2 ** 20), "128Mi");
  t.is(formatBytes(2 ** 30), "1Gi");
  t.is(formatBytes(1536 * 1024), "1536Ki");
  t.is(formatBytes(1000), "1000");
});

test("memory limits: a default, and bounds that say what to use", (t) => {
  t.is(memoryLimitBytes(""), defaultMemoryBytes);
  t.is(memoryLimitBytes("1Gi"), 2 ** 30);
  const v = new Violations();
  checkMemory(v, "spec.resources.memory", "16Mi");
  checkMemory(v, "spec.resources.memory", "1Ti");
  checkMemory(v, "spec.resources.memory", "lots");
  checkMemory(v, "spec.resources.memory", "512Mi");
  checkMemory(v, "spec.resources.memory", undefined);
  t.deepEqual(
    v.list.map((x) => x.message),
    [
      "is 16Mi; it must be from 64Mi to 32Gi (leave it out for 256Mi)",
      "is 1Ti; it must be from 64Mi to 32Gi (leave it out for 256Mi)",
      '"lots" is not a quantity (use a number with a unit, e.g. 128Mi, 1Gi or 500M)',
    ],
  );
});

test("Node's heap gets three quarters of the limit; Python limits itself", (t) => {
  t.deepEqual(memoryFlags("nodejs", 256 * 2 ** 20), ["--max-old-space-size=192"]);
  t.deepEqual(memoryFlags("python3", 256 * 2 ** 20), []);
});
