import test from "ava";
import { backoffDelay, defaultBackoff } from "./backoff.js";

test("backoff: doubles from the first wait, stops at the cap, and the jitter only shortens a wait", (t) => {
  const none = () => 0;
  t.deepEqual(
    [1, 2, 3, 4].map((n) => backoffDelay(n, defaultBackoff, none)),
    [200, 400, 800, 1600],
  );
  t.is(backoffDelay(20, defaultBackoff, none), 60_000);
  t.is(backoffDelay(5000, defaultBackoff, none), 60_000, "no overflow after very many failures");
  t.is(
    backoffDelay(1, defaultBackoff, () => 0.999_999),
    100,
  );
  t.is(
    backoffDelay(1, { ...defaultBackoff, jitter: 0 }, () => 0.7),
    200,
  );
});
