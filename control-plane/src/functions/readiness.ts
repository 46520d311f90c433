import { probeWorker } from "./worker-client.js";

/**
 * Waits until a worker's readiness probe (`GET /healthz`) answers 200, as a
 * Kubernetes startup probe does: a probe that fails (connection refused or
 * reset, any other status) is tried again, after a pause that grows from 20 ms
 * to 500 ms, until `deadlineMs` (a `Date.now()` time). Each attempt may take
 * until the deadline: a slow worker is not declared unready for one slow
 * answer. Resolves false past the deadline, or as soon as `gone` settles (the
 * worker ended).
 */
export async function waitUntilReady(
  baseUrl: string,
  deadlineMs: number,
  gone: Promise<unknown> = new Promise(() => {}),
): Promise<boolean> {
  let ended = false;
  const end = gone.then(
    () => false,
    () => false,
  );
  void end.then(() => {
    ended = true;
  });
  let pauseMs = 20;
  for (;;) {
    const remaining = deadlineMs - Date.now();
    if (ended || remaining <= 0) return false;
    if (await Promise.race([probeWorker(baseUrl, remaining), end])) return true;
    if (ended) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      end,
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.min(pauseMs, Math.max(0, deadlineMs - Date.now())));
      }),
    ]);
    clearTimeout(timer);
    pauseMs = Math.min(pauseMs * 2, 500);
  }
}
