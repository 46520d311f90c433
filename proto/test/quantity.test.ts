import test from "ava";
import { formatBytes, parseQuantity, QuantityError } from "../src/quantity.js";

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
