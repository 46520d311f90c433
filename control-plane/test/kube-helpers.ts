import type { FakeKube } from "@dispatch/testkit";

/**
 * Waits until `check` holds, checking again at each change of the fake
 * cluster's store (its resourceVersion) and at least every 50 ms (what the
 * check reads may live outside the store: a Lease's holder, a process).
 */
export async function clusterUntil(kube: FakeKube, check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  let version = -1;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`the cluster never came to: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, version === kube.resourceVersion ? 50 : 0));
    version = kube.resourceVersion;
  }
}
