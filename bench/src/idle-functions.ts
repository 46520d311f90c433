/**
 * Idle functions: the control plane's memory (RSS) with N registered
 * functions at zero instances, beside the same control plane empty, in one
 * process. Each function is created, validated (one worker starts, passes its
 * probe, goes idle), and scaled to zero before memory is read.
 *
 *   npm run build && node --expose-gc bench/dist/src/idle-functions.js [functions=1000]
 *
 * Target (issue 3): ≤ 64 MiB above the empty control plane at 1,000 functions.
 */
import { startDispatch } from "@dispatch/testkit";
import { clients, createNodeFunction, waitFor } from "./dispatch.js";

const count = Number(process.argv[2] ?? 1000);
const handler = "export default async (context, payload) => payload;\n";
const gc = (globalThis as { gc?: () => void }).gc;

function rssMiB(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().rss / (1024 * 1024);
}

const dispatch = await startDispatch({ controlPlane: { functionDefaults: { idleMs: 200 } } });
try {
  const api = clients(dispatch.url, dispatch.token);
  // Exercise every code path once so the baseline includes loaded code, not just an empty heap.
  await createNodeFunction(api, "warmup", "f.js", handler, { idleTimeoutMs: 200 });
  await waitFor(api.functions, "warmup", (fn) => fn.status?.readyInstances === 0 && fn.status.phase === 3);
  await api.functions.delete({ name: "warmup" });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const empty = rssMiB();

  const started = performance.now();
  const batch = 50;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, (_, j) =>
        createNodeFunction(api, `fn-${i + j}`, "f.js", handler, { idleTimeoutMs: 200 }),
      ),
    );
  }
  // Every function validated (READY) and back at zero instances.
  for (let i = 0; i < count; i++) {
    await waitFor(
      api.functions,
      `fn-${i}`,
      (fn) => fn.status?.phase === 3 && fn.status.readyInstances === 0,
      600_000,
    );
  }
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const loaded = rssMiB();
  console.log(`idle functions: control-plane process RSS, ${count} functions at zero instances`);
  console.log(`  empty control plane:     ${empty.toFixed(1)} MiB`);
  console.log(`  with ${count} functions:   ${loaded.toFixed(1)} MiB`);
  console.log(
    `  difference:              ${(loaded - empty).toFixed(1)} MiB  (${(((loaded - empty) * 1024) / count).toFixed(1)} KiB per function)`,
  );
  console.log(
    `  ratio ${(loaded / empty).toFixed(2)}x of empty; created and validated in ${seconds.toFixed(1)} s   (target: <= 64 MiB above empty)`,
  );
} finally {
  await dispatch.stop();
}
