import { QuantityError, quantityValue } from "@dispatch/proto";

/**
 * The value of a non-negative Kubernetes quantity in base units (cores,
 * bytes), or undefined when `text` is not one: `@dispatch/proto`'s grammar,
 * for the install config's requests and limits.
 *
 * @example
 * parseQuantity("250m"); // 0.25
 * parseQuantity("1Gi");  // 1073741824
 */
export function parseQuantity(text: string): number | undefined {
  try {
    const value = quantityValue(text);
    return value >= 0 ? value : undefined;
  } catch (err) {
    if (err instanceof QuantityError) return undefined;
    throw err;
  }
}
