import type { FractionalPercent, RuntimeFractionalPercent } from "@dispatch/proto/envoy";
import { ConfigError } from "./config-error.js";

/** `FractionalPercent.DenominatorType`: HUNDRED, TEN_THOUSAND, MILLION. */
const denominators = [100, 10_000, 1_000_000];

/**
 * A `RuntimeFractionalPercent` as a share in [0, 1]. The gateway has no runtime
 * layer, so the default value always applies (as in an Envoy whose runtime
 * never sets the key).
 */
export function fractionOf(value: RuntimeFractionalPercent | undefined): number {
  return percentOf(value?.defaultValue);
}

/** A `FractionalPercent` as a share in [0, 1]; an absent one is 0, as in Envoy. */
export function percentOf(value: FractionalPercent | undefined): number {
  if (!value) return 0;
  const denominator = denominators[value.denominator];
  if (denominator === undefined)
    throw new ConfigError("denominator", `unknown denominator ${value.denominator}`);
  return Math.min(1, value.numerator / denominator);
}
