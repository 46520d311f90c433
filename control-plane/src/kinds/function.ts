import { type Duration, durationMs } from "@bufbuild/protobuf/wkt";
import {
  type Function as FunctionResource,
  type FunctionRuntime,
  FunctionSchema,
  functionRuntimes,
  isFunctionRuntime,
  Phase,
} from "@dispatch/proto";
import { defaultHandler, type Runtime } from "@dispatch/runtimes";
import { checkMemory } from "../functions/isolation/memory-limit.js";
import { checkName, type Violations } from "../validation/violations.js";
import { binaryCodec, type Kind } from "./kind.js";
import { envName } from "./names.js";

/**
 * The API's runtimes (`@dispatch/proto`) are those this package has workers for:
 * the compiler refuses a list that names one without a worker, or leaves one out.
 */
const sameRuntimes: [FunctionRuntime, Runtime] extends [Runtime, FunctionRuntime] ? true : never = true;
void sameRuntimes;

const maxTimeoutMs = 15 * 60 * 1000;

/** Functions: user code and how to run it. */
export const functionKind: Kind<FunctionResource> = {
  name: "Function",
  label: "function",
  bucket: "functions",
  schema: FunctionSchema,
  global: false,
  initialPhase: () => Phase.INITIALIZED,
  codec: binaryCodec(FunctionSchema),
  prepare(fn) {
    const spec = fn.spec;
    if (
      spec &&
      spec.handler === "" &&
      spec.source?.format === "file" &&
      spec.source.filename !== "" &&
      isFunctionRuntime(spec.runtime)
    ) {
      spec.handler = defaultHandler(spec.runtime, spec.source.filename);
    }
  },
  validate(fn, v) {
    const spec = fn.spec;
    if (!spec) {
      v.add("spec", "is required");
      return;
    }
    if (spec.runtime === "") {
      v.add("spec.runtime", `is required (use ${functionRuntimes.join(" or ")})`);
    } else if (!isFunctionRuntime(spec.runtime)) {
      v.add("spec.runtime", `"${spec.runtime}" is not supported (use ${functionRuntimes.join(" or ")})`);
    }
    if (spec.source && spec.source.digest !== "" && !/^sha256:[0-9a-f]{64}$/.test(spec.source.digest)) {
      v.add(
        "spec.source.digest",
        `"${spec.source.digest}" is not a sha256 digest ("sha256:" and 64 hex digits)`,
      );
    }
    for (const key of Object.keys(spec.env)) {
      if (!envName.test(key)) {
        v.add(`spec.env.${key}`, "is not a valid environment variable name (letters, digits and '_')");
      }
    }
    for (const [i, name] of spec.secrets.entries()) checkName(v, `spec.secrets[${i}]`, name);
    checkDuration(v, "spec.timeout", spec.timeout, maxTimeoutMs);
    checkMemory(v, "spec.resources.memory", spec.resources?.memory);
    // Calls count in whole milliseconds, and a worker takes 0 as "no deadline".
    const timeoutMs = spec.timeout ? durationMs(spec.timeout) : undefined;
    if (timeoutMs !== undefined && timeoutMs >= 0 && timeoutMs < 1) {
      v.add("spec.timeout", "must be more than 0: at least 1ms (leave it out for the default, 30s)");
    }
    const scale = spec.scale;
    if (scale) {
      if (scale.max !== 0 && scale.min > scale.max) {
        v.add("spec.scale.min", `is ${scale.min}, more than spec.scale.max (${scale.max})`);
      }
      if (scale.concurrency > 10000)
        v.add("spec.scale.concurrency", `is ${scale.concurrency}; the limit is 10000`);
      checkDuration(v, "spec.scale.idle_timeout", scale.idleTimeout, 24 * 3600 * 1000);
    }
  },
};

/** The bounds of this installation that {@link checkScaleLimits} applies. */
export interface ScaleLimits {
  maxScaleMin: number;
  maxScaleMax: number;
  maxInstancesPerOrg: number;
}

/**
 * Adds a violation for each scale bound past this installation's limits:
 * `min` and `max` per function, and a `min` that the org's instance quota
 * could never hold. The limits are options of the control plane, so this is
 * checked beside the kind's own validation, where they are known.
 */
export function checkScaleLimits(v: Violations, fn: FunctionResource, limits: ScaleLimits): void {
  const scale = fn.spec?.scale;
  if (!scale) return;
  const raise = "(an operator can raise it: dispatch up --max-scale-min / --max-scale-max)";
  if (scale.min > limits.maxScaleMin) {
    v.add("spec.scale.min", `is ${scale.min}; the limit is ${limits.maxScaleMin} ${raise}`);
  } else if (scale.min > limits.maxInstancesPerOrg) {
    v.add(
      "spec.scale.min",
      `is ${scale.min}, more than the ${limits.maxInstancesPerOrg} instances an org may run (dispatch up --max-instances-per-org)`,
    );
  }
  if (scale.max > limits.maxScaleMax) {
    v.add("spec.scale.max", `is ${scale.max}; the limit is ${limits.maxScaleMax} ${raise}`);
  }
}

/** Adds a violation when a duration is negative or above `maxMs`. */
export function checkDuration(v: Violations, field: string, d: Duration | undefined, maxMs: number): void {
  if (!d) return;
  const ms = durationMs(d);
  if (ms < 0) v.add(field, "must not be negative");
  else if (ms > maxMs) v.add(field, `is ${ms / 1000}s; the limit is ${maxMs / 1000}s`);
}
