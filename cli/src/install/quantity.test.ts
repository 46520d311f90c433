import test from "ava";
import { parseQuantity } from "./quantity.js";

test("quantities: decimal and binary suffixes, exponents, and what is not one", (t) => {
  t.is(parseQuantity("250m"), 0.25);
  t.is(parseQuantity("2"), 2);
  t.is(parseQuantity("1.5"), 1.5);
  t.is(parseQuantity("1Gi"), 2 ** 30);
  t.is(parseQuantity("512Mi"), 512 * 2 ** 20);
  t.is(parseQuantity("1G"), 1e9);
  t.is(parseQuantity("1E"), 1e18);
  t.is(parseQuantity("1e3"), 1000);
  t.is(parseQuantity("12E2"), 1200);
  for (const bad of ["", "ten", "1gi", "-1", "1 Gi", "1GiB", "0x10", "m"])
    t.is(parseQuantity(bad), undefined, bad);
});
