import {
  ConfigurationError,
  createLeaderGate,
  type LeaderGate,
  systemTimers,
  type Timers,
} from "@dispatch/server-kit";
import { type KubeApi, KubeApiError, KubeConnectionError } from "./kube-api.js";

/** Options of {@link startLeaderElection}. */
export interface LeaderElectionOptions {
  api: KubeApi;
  /** The namespace of the Lease; it must exist. */
  namespace: string;
  /** The Lease's name, e.g. "dispatch-control-plane"; created when missing. */
  name: string;
  /** This replica's identity (its pod name), unique among the candidates. */
  identity: string;
  /**
   * How long a lease holds without renewal; default 15 s. Candidates wait this
   * long (or the Lease's own `leaseDurationSeconds`, if longer) after they last
   * saw the lease change before they take it. Written to the Lease in whole
   * seconds, rounded up.
   */
  leaseDurationMs?: number;
  /**
   * A leader that could not renew for this long steps down; default 10 s. It
   * must be shorter than `leaseDurationMs`, so that a leader has stopped before
   * anyone else may take its lease.
   */
  renewDeadlineMs?: number;
  /** How often candidates try to take the lease and the leader renews it; default 2 s. */
  retryPeriodMs?: number;
  /** Receives changes of leadership and failures to reach the API (each kind of failure once until it clears). */
  log?(message: string, error?: unknown): void;
  /** The timers it schedules with; default Node's, unreferenced. */
  timers?: Timers;
}

/**
 * This replica's part in a leader election: a {@link LeaderGate} that is open
 * while it holds the Lease.
 */
export interface LeaderElection extends LeaderGate {
  /** This replica's identity, as it writes it into the Lease. */
  readonly identity: string;
  /** The holder of the Lease as last observed ("" when none). */
  holder(): string;
  /**
   * Resolves once this replica leads (at once if it does); rejects when
   * `signal` aborts or the election is closed first.
   */
  whenLeading(signal?: AbortSignal): Promise<void>;
  /**
   * Stops campaigning and closes the gate. A leader gives the lease up
   * (holderIdentity cleared, so another replica takes over at once) unless
   * `release` is false, in which case the others wait for it to expire. Never
   * rejects; a failed release is logged.
   */
  close(options?: { release?: boolean }): Promise<void>;
}

/** A `coordination.k8s.io/v1` Lease, as far as the election reads it. */
interface Lease {
  metadata?: { name?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number | null;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number | null;
  };
}

/** A request of one step of the election failed: reading, creating, renewing, taking or releasing the Lease. */
class LeaseStepError extends Error {
  override name = "LeaseStepError";
  constructor(
    readonly step: string,
    readonly where: string,
    options: { cause: unknown },
  ) {
    super(`cannot ${step} the Lease ${where}: ${describe(options.cause)}`, options);
  }
}

const mergePatch = "application/merge-patch+json";

/**
 * Starts campaigning for the Lease `namespace/name` and returns the gate that
 * is open while this replica leads, as client-go's leader election does it:
 *
 * - The Lease is created when missing (only one create succeeds).
 * - A candidate takes it when nobody holds it, when it names this replica, or
 *   when its record (holder, renewTime, resourceVersion) has not changed for
 *   the lease duration **as measured on this replica's clock** since it last
 *   saw it change. Other replicas' clocks are never compared with ours: their
 *   renewTime only tells that something changed.
 * - Every write carries the resourceVersion it was based on, so of two
 *   replicas taking the lease at once one gets 409 Conflict and stays a
 *   candidate. A change of holder counts in `leaseTransitions`.
 * - The leader renews every retry period. If it could not renew for the renew
 *   deadline (errors, or another replica took the lease) it steps down at once
 *   and goes back to campaigning.
 *
 * Failures are logged, never thrown; timers do not keep the process alive.
 *
 * @example
 * const election = startLeaderElection({ api, namespace: "dispatch", name: "dispatch-control-plane", identity: podName });
 * const reconciler = createReconciler({ ..., leader: election });
 * // at shutdown: await election.close();
 */
export function startLeaderElection(options: LeaderElectionOptions): LeaderElection {
  const { api, namespace, name, identity } = options;
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  checkOptions(options, leaseDurationMs, renewDeadlineMs, retryPeriodMs);
  const timers = options.timers ?? systemTimers;
  const log = options.log ?? ((message, error) => console.error(`leader election: ${message}`, error ?? ""));
  const where = `${namespace}/${name}`;
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;
  const path = `${collection}/${encodeURIComponent(name)}`;
  const leaseDurationSeconds = Math.ceil(leaseDurationMs / 1000);
  // Our own clock for every wait: monotonic, so a wall clock set back or forth changes nothing.
  const now = () => performance.now();

  const gate = createLeaderGate(false);
  /** The Lease as last read or written, and when (our clock) its record last changed. */
  let observed: { lease: Lease; record: string; changedAt: number } | undefined;
  /** When the attempt that last acquired or renewed the lease started. */
  let renewedAt = 0;
  let stepDownTimer: unknown;
  let sleepTimer: unknown;
  let wake: (() => void) | undefined;
  let attempt: AbortController | undefined;
  let lastFailure: string | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  const waiters = new Set<(error?: Error) => void>();

  function holderOf(lease: Lease | undefined): string {
    return lease?.spec?.holderIdentity ?? "";
  }

  function observe(lease: Lease): void {
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ""}\n${spec.renewTime ?? ""}\n${lease.metadata?.resourceVersion ?? ""}`;
    if (observed?.record !== record) observed = { lease, record, changedAt: now() };
    else observed.lease = lease;
  }

  function lead(startedAt: number): void {
    if (closed) return;
    renewedAt = startedAt;
    timers.clearTimeout(stepDownTimer);
    const left = startedAt + renewDeadlineMs - now();
    if (left <= 0) {
      // The answer came after the deadline: others may already count the lease as expired.
      expire();
      return;
    }
    stepDownTimer = timers.setTimeout(expire, left);
    if (!gate.isLeader()) {
      log(`${identity} leads (Lease ${where})`);
      gate.set(true);
      for (const waiter of [...waiters]) waiter();
    }
  }

  function stepDown(why: string): void {
    timers.clearTimeout(stepDownTimer);
    stepDownTimer = undefined;
    if (!gate.isLeader()) return;
    log(`${identity} stopped leading (Lease ${where}): ${why}`);
    gate.set(false);
  }

  /** The renew deadline passed: step down, and stop waiting for a renewal that can no longer count. */
  function expire(): void {
    stepDown(`it could not renew the lease for ${renewDeadlineMs} ms`);
    attempt?.abort();
  }

  function failed(error: unknown, signal: AbortSignal): void {
    // A request cut off at the renew deadline is news only when nothing else is failing: while
    // renewals fail (500s, say), the deadline passing is their consequence, not another failure.
    if (signal.aborted && lastFailure !== undefined) return;
    const step = error instanceof LeaseStepError ? error.step : "reach";
    const kind = `${step}: ${signal.aborted ? "deadline" : failureKind(error instanceof LeaseStepError ? error.cause : error)}`;
    if (kind === lastFailure) return;
    lastFailure = kind;
    const message = signal.aborted
      ? `${identity} cannot ${step} the Lease ${where}: no answer within the renew deadline (${renewDeadlineMs} ms)`
      : error instanceof LeaseStepError
        ? `${identity} ${error.message}`
        : `${identity} cannot take part in the election for the Lease ${where}`;
    log(`${message}; retrying every ${retryPeriodMs} ms, failures of this kind are not logged again`, error);
  }

  function succeeded(): void {
    if (lastFailure === undefined) return;
    lastFailure = undefined;
    log(`${identity} reaches the Lease ${where} again`);
  }

  /** Runs one request of a step; failures other than the answers the caller handles (`expected`) name the step. */
  async function step<T>(name: string, request: () => Promise<T>, expected: number[]): Promise<T> {
    try {
      return await request();
    } catch (err) {
      if (err instanceof KubeApiError && expected.includes(err.status)) throw err;
      throw new LeaseStepError(name, where, { cause: err });
    }
  }

  /** One round: read the Lease, then create, take or renew it, or leave it to its holder. */
  async function tryAcquireOrRenew(signal: AbortSignal): Promise<void> {
    const startedAt = now();
    let lease: Lease;
    try {
      lease = await step("read", () => api.request<Lease>({ method: "GET", path, signal }), [404]);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return await create(startedAt, signal);
      throw err;
    }
    observe(lease);
    const spec = lease.spec ?? {};
    const holder = holderOf(lease);
    if (holder !== "" && holder !== identity) {
      if (gate.isLeader()) stepDown(`${holder} holds the lease now`);
      // Honour the holder's promise too, if it is longer than ours (replicas configured differently in a rollout).
      const expiresAfter = Math.max(leaseDurationMs, (spec.leaseDurationSeconds ?? 0) * 1000);
      if (observed && now() - observed.changedAt < expiresAfter) return;
    }
    const taking = holder !== identity;
    const time = microTime(new Date());
    const body = {
      metadata: { resourceVersion: lease.metadata?.resourceVersion },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: time,
        ...(taking ? { acquireTime: time, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
      },
    };
    let written: Lease;
    try {
      // A merge patch with the resourceVersion read is an update with a precondition: 409 if anyone wrote since.
      written = await step(
        taking ? "take" : "renew",
        () => api.request<Lease>({ method: "PATCH", path, contentType: mergePatch, body, signal }),
        [404, 409],
      );
    } catch (err) {
      // Someone wrote the lease since we read it (a faster taker), or deleted it: the next round tells.
      if (err instanceof KubeApiError) return;
      throw err;
    }
    observe(written);
    lead(startedAt);
  }

  async function create(startedAt: number, signal: AbortSignal): Promise<void> {
    const time = microTime(new Date());
    const body = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name, namespace },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: time,
        renewTime: time,
        leaseTransitions: 0,
      },
    };
    let created: Lease;
    try {
      created = await step(
        "create",
        () => api.request<Lease>({ method: "POST", path: collection, body, signal }),
        [409],
      );
    } catch (err) {
      // Another candidate created it first (409 AlreadyExists); the next round reads it.
      if (err instanceof KubeApiError) return;
      throw err;
    }
    observe(created);
    lead(startedAt);
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      wake = resolve;
      sleepTimer = timers.setTimeout(resolve, ms);
    });
  }

  async function campaign(): Promise<void> {
    while (!closed) {
      const controller = new AbortController();
      attempt = controller;
      try {
        await tryAcquireOrRenew(controller.signal);
        succeeded();
      } catch (err) {
        if (!closed) failed(err, controller.signal);
      } finally {
        attempt = undefined;
      }
      if (closed) break;
      // Candidates started together drift apart, so they do not all try at the same moment.
      await sleep(gate.isLeader() ? retryPeriodMs : retryPeriodMs * (1 + 0.2 * Math.random()));
    }
  }

  /** Gives the lease up if this replica still holds it; written on the version read, so never over another's. */
  async function release(): Promise<void> {
    const controller = new AbortController();
    const deadline = timers.setTimeout(() => controller.abort(), renewDeadlineMs);
    const { signal } = controller;
    try {
      const lease = await step("read", () => api.request<Lease>({ method: "GET", path, signal }), [404]);
      observe(lease);
      if (holderOf(lease) !== identity) return;
      const body = {
        metadata: { resourceVersion: lease.metadata?.resourceVersion },
        spec: { holderIdentity: "", renewTime: microTime(new Date()) },
      };
      const released = await step(
        "release",
        () => api.request<Lease>({ method: "PATCH", path, contentType: mergePatch, body, signal }),
        [404, 409],
      );
      observe(released);
      log(`${identity} released the Lease ${where}`);
    } catch (err) {
      // 404: nothing to release; 409: someone else wrote it, so it is not ours to clear.
      if (err instanceof KubeApiError && (err.status === 404 || err.status === 409)) return;
      const what = err instanceof LeaseStepError ? err.message : `cannot release the Lease ${where}`;
      log(`${identity} ${what}; the others take over once it expires`, err);
    } finally {
      timers.clearTimeout(deadline);
    }
  }

  const running = campaign();

  return {
    identity,
    isLeader() {
      // A timer that fires late (a busy event loop) must not leave the gate open past the deadline.
      if (gate.isLeader() && now() - renewedAt >= renewDeadlineMs) expire();
      return gate.isLeader();
    },
    onChange(listener) {
      return gate.onChange((isLeader) => {
        try {
          listener(isLeader);
        } catch (err) {
          log(`a listener of ${identity}'s leadership failed`, err);
        }
      });
    },
    holder: () => holderOf(observed?.lease),
    whenLeading(signal) {
      if (gate.isLeader()) return Promise.resolve();
      if (closed) return Promise.reject(new Error(`the leader election of ${identity} is closed`));
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const settle = (error?: Error) => {
          waiters.delete(settle);
          signal?.removeEventListener("abort", aborted);
          if (error) reject(error);
          else resolve();
        };
        const aborted = () => settle(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
        waiters.add(settle);
        signal?.addEventListener("abort", aborted, { once: true });
      });
    },
    close({ release: give = true } = {}) {
      closing ??= (async () => {
        const wasLeader = gate.isLeader();
        closed = true;
        // Stop acting first: another replica may lead as soon as the lease is released.
        stepDown("the election is closed");
        timers.clearTimeout(sleepTimer);
        wake?.();
        attempt?.abort();
        for (const waiter of [...waiters]) {
          waiter(new Error(`the leader election of ${identity} was closed before it led`));
        }
        await running;
        if (give && (wasLeader || holderOf(observed?.lease) === identity)) await release();
      })();
      return closing;
    },
  };
}

function checkOptions(
  options: LeaderElectionOptions,
  leaseDurationMs: number,
  renewDeadlineMs: number,
  retryPeriodMs: number,
): void {
  const problems: string[] = [];
  for (const field of ["namespace", "name", "identity"] as const) {
    if (!options[field]) problems.push(`${field} is empty (set it to the Lease's ${field})`);
  }
  const durations = { leaseDurationMs, renewDeadlineMs, retryPeriodMs };
  for (const [field, value] of Object.entries(durations)) {
    if (!Number.isFinite(value) || value <= 0) problems.push(`${field} is ${value} (it must be above 0)`);
  }
  if (!(renewDeadlineMs < leaseDurationMs)) {
    problems.push(
      `renewDeadlineMs (${renewDeadlineMs}) must be below leaseDurationMs (${leaseDurationMs}): a leader must step down before the others may take its lease`,
    );
  }
  if (!(retryPeriodMs < renewDeadlineMs)) {
    problems.push(
      `retryPeriodMs (${retryPeriodMs}) must be below renewDeadlineMs (${renewDeadlineMs}): a leader must get to renew before its deadline`,
    );
  }
  if (problems.length > 0) {
    throw new ConfigurationError(`leader election for "${options.identity}": ${problems.join("; ")}`);
  }
}

/**
 * A Kubernetes MicroTime: RFC 3339 with exactly six fractional digits, which
 * the API server requires (a JavaScript Date has three).
 */
function microTime(date: Date): string {
  return date.toISOString().replace(/Z$/, "000Z");
}

/** What went wrong, coarsely enough that retries failing alike count as one kind. */
function failureKind(error: unknown): string {
  if (error instanceof KubeApiError) return `HTTP ${error.status} ${error.reason}`;
  if (error instanceof KubeConnectionError) {
    const code = (error.cause as { code?: unknown } | undefined)?.code;
    return `unreachable ${typeof code === "string" ? code : "no answer"}`;
  }
  return error instanceof Error ? error.constructor.name : typeof error;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
