/** Scaling bounds of a revision, with defaults applied. */
export interface ScalePolicy {
  min: number;
  max: number;
  /** Calls in flight per instance. */
  concurrency: number;
  /** An idle instance above `min` stops after this long. */
  idleMs: number;
}

/** What one ready instance carries, as the pool sees it. */
export interface InstanceLoad {
  /** Call slots the pool handed out on it (the invoker's calls). */
  leases: number;
  /** Calls in flight by its worker's last load report: the invoker's and any other caller's (the data plane's). */
  reported: number;
  /** It refused a connection (its process is ending): it counts against `max` but serves nothing. */
  unreachable: boolean;
}

/** The load of a revision: its instances', and the callers waiting for a slot. */
export interface RevisionLoad {
  instances: readonly InstanceLoad[];
  waiting: number;
  /** Instances wanted whatever the load (1 while a revision starts). */
  floor: number;
}

/**
 * The instances a revision's load wants, Knative-style (desired = observed
 * concurrency / per-instance target): the calls in flight on each instance
 * (the larger of the pool's own count and the worker's report, which also
 * sees calls that did not come through the invoker) plus the callers waiting,
 * divided by `concurrency`, rounded up; one more for each unreachable
 * instance; at least `min`, at least one while a caller waits, at most `max`.
 * Pure: the pool decides when to ask (a caller waits, a report comes in) and
 * never scales down on it (idle instances stop one by one after `idleMs`).
 *
 * @example
 * wantedReplicas({ min: 0, max: 3, concurrency: 1, idleMs: 60_000 },
 *   { instances: [{ leases: 0, reported: 5, unreachable: false }], waiting: 0, floor: 0 }); // 3
 */
export function wantedReplicas(policy: ScalePolicy, load: RevisionLoad): number {
  let busy = load.waiting;
  let unreachable = 0;
  for (const instance of load.instances) {
    busy += Math.max(instance.leases, instance.reported);
    if (instance.unreachable) unreachable++;
  }
  const concurrency = Math.max(1, policy.concurrency);
  const byLoad = Math.ceil(busy / concurrency) + unreachable;
  const wanted = Math.max(policy.min, byLoad, load.waiting > 0 ? 1 : 0, load.floor);
  return Math.min(wanted, Math.max(policy.max, policy.min));
}
