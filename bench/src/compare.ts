import { cpuPerCall, sampleCpu } from "./cpu.js";
import { type Summary, summarize } from "./stats.js";

/** What {@link compare} measured of one path. */
export interface Result {
  summary: Summary;
  /** Calls per second. */
  rate: number;
  /** CPU per call of each process, as text ("client 41 µs · worker 120 µs"). */
  cpu: string;
  /** CPU time of every process per call, in µs: what bounds throughput when the cores are busy. */
  cpuUs: number;
  /** CPU time per call of each process (by the names `sampleCpu` gives), in µs. */
  cpuUsByProcess: Map<string, number>;
}

/** One path's tally over the rounds of {@link compare}. */
interface Tally {
  latencies: number[];
  seconds: number;
  cpu: Map<string, number>;
}

/**
 * Runs `total` calls of each path with `concurrency` in flight, in rounds that take
 * turns between the paths, so that a machine whose load drifts (other processes come
 * and go) weighs on every path alike: latencies, calls per second, CPU per call.
 */
export async function compare<K extends string>(
  concurrency: number,
  total: number,
  paths: Record<K, () => Promise<void>>,
  rounds = 10,
): Promise<Record<K, Result>> {
  const names = Object.keys(paths) as K[];
  const tallies = new Map<K, Tally>(
    names.map((name) => [name, { latencies: [], seconds: 0, cpu: new Map() }]),
  );
  const perRound = Math.ceil(total / rounds);
  for (let round = 0; round < rounds; round++) {
    // A different path goes first in each round.
    const order = names.map((_, i) => names[(i + round) % names.length] as K);
    for (const name of order) {
      const tally = tallies.get(name) as Tally;
      const call = paths[name];
      let next = 0;
      const cpuBefore = sampleCpu();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < perRound) {
            next++;
            const t0 = performance.now();
            await call();
            tally.latencies.push(performance.now() - t0);
          }
        }),
      );
      tally.seconds += (performance.now() - started) / 1000;
      for (const [process, ms] of sampleCpu()) {
        tally.cpu.set(process, (tally.cpu.get(process) ?? 0) + ms - (cpuBefore.get(process) ?? 0));
      }
    }
  }
  const results = {} as Record<K, Result>;
  for (const [name, tally] of tallies) {
    const n = tally.latencies.length;
    results[name] = {
      summary: summarize(tally.latencies),
      rate: n / tally.seconds,
      cpu: cpuPerCall(new Map(), tally.cpu, n),
      cpuUs: ([...tally.cpu.values()].reduce((sum, ms) => sum + ms, 0) * 1000) / n,
      cpuUsByProcess: new Map([...tally.cpu].map(([process, ms]) => [process, (ms * 1000) / n])),
    };
  }
  return results;
}
