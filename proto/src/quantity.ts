/**
 * Kubernetes resource quantities ("128Mi", "1G", "0.5Gi", "256e6"), as the
 * function spec's `resources.memory` takes them (dispatch/v1/function.proto):
 * the control plane checks and applies them, the Kubernetes driver hands
 * the worker its limit in bytes.
 * The grammar is Kubernetes' (k8s.io/apimachinery resource.Quantity):
 * a signed decimal number, then a binary suffix (Ki Mi Gi Ti Pi Ei), a
 * decimal suffix (n u m, none, k M G T P E) or a decimal exponent (e3, E-2).
 */

/** A quantity that does not follow the grammar; the message says why and shows the right form. */
export class QuantityError extends Error {
  override readonly name = "QuantityError";
}

const binary: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const decimal: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

const pattern = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/;

/**
 * The value of a quantity, in its unit (bytes for memory), rounded up to a
 * whole number as Kubernetes does for byte values. Throws {@link QuantityError}.
 *
 * @example
 * parseQuantity("128Mi"); // 134217728
 * parseQuantity("1G"); // 1000000000
 */
export function parseQuantity(text: string): number {
  return Math.ceil(quantityValue(text));
}

/**
 * The exact value of a quantity in its unit (cores for CPU: "250m" is 0.25).
 * Throws {@link QuantityError}.
 */
export function quantityValue(text: string): number {
  const match = pattern.exec(text.trim());
  if (!match) {
    throw new QuantityError(
      `"${text}" is not a quantity (use a number with a unit, e.g. 128Mi, 1Gi or 500M)`,
    );
  }
  const [, number = "0", suffix, exponent] = match;
  const multiplier =
    exponent !== undefined ? 10 ** Number(exponent) : (binary[suffix ?? ""] ?? decimal[suffix ?? ""] ?? 1);
  const value = Number(number) * multiplier;
  if (!Number.isFinite(value)) throw new QuantityError(`"${text}" is too large`);
  // 0.1 * 1e3 is 100.00000000000001 in binary floating point: round what is noise off.
  return Number(value.toPrecision(15));
}

/**
 * A byte count in the shortest binary unit that shows it exactly: "128Mi",
 * "1Gi", "1536Ki", or plain bytes.
 */
export function formatBytes(bytes: number): string {
  for (const unit of ["Ei", "Pi", "Ti", "Gi", "Mi", "Ki"]) {
    const size = binary[unit] as number;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
