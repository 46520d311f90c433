/**
 * Kubernetes resource quantities ("250m", "1.5", "512Mi", "1e3"), as the API
 * server parses them (`resource.Quantity`): a non-negative decimal number and
 * one suffix, binary (Ki … Ei), decimal (n, u, m, k, M … E) or an exponent.
 */
const quantityPattern = /^(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

const multipliers: Record<string, number> = {
  "": 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The value of a quantity in base units (cores, bytes), or undefined when
 * `text` is not one. Precise enough to compare requests with limits.
 *
 * @example
 * parseQuantity("250m"); // 0.25
 * parseQuantity("1Gi");  // 1073741824
 */
export function parseQuantity(text: string): number | undefined {
  const match = quantityPattern.exec(text);
  if (!match) return undefined;
  const number = Number(match[1]);
  const suffix = match[2] ?? "";
  if (suffix.startsWith("e") || suffix.startsWith("E")) {
    // "E" alone is exa; "e3"/"E3" is an exponent.
    if (suffix.length > 1) return number * 10 ** Number(suffix.slice(1));
  }
  const multiplier = multipliers[suffix];
  return multiplier === undefined ? undefined : number * multiplier;
}
