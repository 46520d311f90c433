/** Summary figures of a sample of durations in milliseconds. */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
}

/** p50/p95/p99 and mean of `samples` (nearest-rank percentiles). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { n: sorted.length, p50: at(50), p95: at(95), p99: at(99), mean };
}

/** "p50 1.23 ms  p95 2.34 ms  p99 3.45 ms  (n=500)" */
export function format(s: Summary): string {
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  return `p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  (n=${s.n})`;
}
