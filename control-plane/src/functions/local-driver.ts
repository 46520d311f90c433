import {
  type BundleSource,
  type Driver,
  type InstanceCredentials,
  LoadError,
  type RevisionSpec,
  revisionKey,
  type WorkerLogLine,
} from "@dispatch/server-kit";
import type { Isolation } from "./isolation/isolation.js";
import { type Backoff, createReplicaDriver } from "./replica-set.js";
import { WorkerProcesses } from "./worker-process.js";

/** Options for {@link createLocalDriver}. */
export interface LocalDriverOptions {
  /** How workers are isolated (`openIsolation`); the driver closes it when it closes. */
  isolation: Isolation;
  /** Where revisions' bundles are unpacked (the control plane's `BundleCache`). */
  bundles: BundleSource;
  /** Issues each instance's credential. */
  credentials: InstanceCredentials;
  /** Receives every line workers write outside and inside calls. */
  onLog?(line: WorkerLogLine): void;
  /** How long a worker may take to become ready (its ready line, then its probe); default 30 s. */
  startTimeoutMs?: number;
  /** Workers starting at the same time, at most; default 8. Many functions created at once queue here. */
  maxConcurrentStarts?: number;
  /** The backoff of restarts after a crash; default {@link defaultBackoff}. */
  backoff?: Backoff;
}

/**
 * The local driver: each instance is a worker process on this machine
 * (`worker-process.ts`: loopback port, sandbox, cgroup, lifeline), each
 * revision's instances are kept at their replicas by a `ReplicaSet` (crashes
 * restarted with backoff, as the kubelet does for pods), and a revision's
 * bundle is unpacked once, when its first instance starts, and let go when
 * the revision is removed. At creation it removes what an earlier run left
 * unpacked.
 */
export function createLocalDriver(options: LocalDriverOptions): Driver {
  const { isolation, bundles } = options;
  const workers = new WorkerProcesses({
    isolation,
    ...(options.onLog ? { onLog: options.onLog } : {}),
    ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
  });
  // Nothing holds a bundle yet: what is unpacked belongs to an earlier run.
  void bundles.sweep().catch(() => undefined);

  /** Each revision's bundle, unpacked at its first start; a failed unpacking is tried again at the next. */
  const unpacked = new Map<string, Promise<{ directory: string; release(): void }>>();
  const directoryOf = async (revision: RevisionSpec): Promise<string> => {
    const key = revisionKey(revision);
    let handle = unpacked.get(key);
    if (!handle) {
      handle = bundles.acquire(revision.bundle);
      unpacked.set(key, handle);
      handle.catch(() => {
        if (unpacked.get(key) === handle) unpacked.delete(key);
      });
    }
    return (await handle).directory;
  };

  // Starting a worker is CPU-bound: a thousand functions created at once must
  // not fork a thousand processes at once.
  const limit = options.maxConcurrentStarts ?? 8;
  let active = 0;
  const queue: Array<() => void> = [];
  const slot = async (signal: AbortSignal) => {
    if (active >= limit) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal.removeEventListener("abort", giveUp);
          resolve();
        };
        const giveUp = () => {
          const at = queue.indexOf(wake);
          if (at >= 0) queue.splice(at, 1);
          reject(new LoadError("the instance was not needed any more before it started"));
        };
        queue.push(wake);
        signal.addEventListener("abort", giveUp, { once: true });
      });
    }
    active++;
  };
  const done = () => {
    active--;
    queue.shift()?.();
  };

  return createReplicaDriver({
    name: "local",
    isolation: { mode: isolation.mode, summary: isolation.summary, warning: isolation.warning },
    ...(options.backoff ? { backoff: options.backoff } : {}),
    async launch(revision, id, signal) {
      await slot(signal);
      try {
        const directory = await directoryOf(revision);
        const token = options.credentials.issue(revision);
        return await workers.start({ id, revision, directory, token, signal });
      } finally {
        done();
      }
    },
    async onRemoved(revision) {
      const key = revisionKey(revision);
      const handle = unpacked.get(key);
      unpacked.delete(key);
      (await handle?.catch(() => undefined))?.release();
    },
    async onClose() {
      await workers.close();
      await isolation.close();
    },
  });
}
