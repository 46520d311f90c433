/**
 * Idle functions: the memory (RSS) of a `dispatch up` process with N
 * registered functions at zero instances, beside the same process empty
 * (measured first, in the same run). Each function is created, validated (one
 * worker starts, passes its probe, goes idle) and scaled to zero before
 * memory is read.
 *
 *   npm run build && node bench/dist/src/idle-functions.js [functions=1000]
 *
 * Target (issue 3): ≤ 64 MiB above the empty control plane at 1,000 functions.
 */
import { WatchEventType } from "@dispatch/proto";
import { clients, createFunction } from "./dispatch.js";
import { startDispatchProcess } from "./process.js";

const count = Number(process.argv[2] ?? 1000);
const handler = "export default async (context, payload) => payload;\n";

const dispatch = await startDispatchProcess();
try {
  const api = clients(dispatch.url, dispatch.token);
  // One function through its whole life first, so the baseline has every code path loaded.
  await createFunction(api, "warmup", "f.js", handler, { idleTimeoutMs: 200 });
  await untilIdle(new Set(["warmup"]));
  await api.functions.delete({ name: "warmup" });
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const empty = await dispatch.rssMiB();

  const started = performance.now();
  const names = new Set(Array.from({ length: count }, (_, i) => `fn-${i}`));
  const idle = untilIdle(names);
  const batch = 50;
  const list = [...names];
  for (let i = 0; i < list.length; i += batch) {
    await Promise.all(
      list
        .slice(i, i + batch)
        .map((name) => createFunction(api, name, "f.js", handler, { idleTimeoutMs: 200 })),
    );
  }
  await idle;
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const loaded = await dispatch.rssMiB();
  if (process.env.BENCH_HEAP) {
    // BENCH_HEAP=DIR: a heap snapshot of the loaded process, to see what the memory holds.
    process.kill(dispatch.pid, "SIGUSR2");
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  console.log(`idle functions: RSS of the dispatch up process, ${count} functions at zero instances`);
  console.log(`  empty:                 ${empty.toFixed(1)} MiB`);
  console.log(`  with ${count} functions: ${loaded.toFixed(1)} MiB`);
  console.log(
    `  difference:            ${(loaded - empty).toFixed(1)} MiB  (${(((loaded - empty) * 1024) / count).toFixed(1)} KiB per function; ratio ${(loaded / empty).toFixed(2)}x)`,
  );
  console.log(`  created and validated in ${seconds.toFixed(1)} s   (target: <= 64 MiB above empty)`);

  /** Resolves when every named function is READY and back at zero instances (one watch for all). */
  async function untilIdle(pending: Set<string>): Promise<void> {
    const left = new Set(pending);
    for await (const event of api.functions.watch({}, { signal: AbortSignal.timeout(900_000) })) {
      const fn = event.object;
      if (event.type === WatchEventType.SYNCED || !fn?.meta) continue;
      if (
        fn.status?.phase === 3 &&
        fn.status.readyInstances === 0 &&
        fn.status.observedGeneration === fn.meta.generation
      ) {
        left.delete(fn.meta.name);
      }
      if (left.size === 0) return;
    }
  }
} finally {
  await dispatch.stop();
}
