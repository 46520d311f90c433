import test from "ava";
import { Violations } from "../../validation/violations.js";
import { checkMemory, defaultMemoryBytes, memoryFlags, memoryLimitBytes } from "./memory-limit.js";

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
