import { ConfigurationError, systemTimers, type Timers } from "@dispatch/server-kit";
import { type FakeKube, startFakeKube } from "@dispatch/testkit";
import test, { type ExecutionContext } from "ava";
import {
  connectKube,
  type KubeApi,
  type LeaderElection,
  type LeaderElectionOptions,
  startLeaderElection,
} from "../src/index.js";

// Leader election on a Lease, against the fake Kubernetes API server (testkit):
// several candidates in one process, each with a client of its own, as
// replicas of the control plane would be. Durations are short so that leases
// expire within a test; every wait is on an event, with a generous bound.

const namespace = "default";
const name = "dispatch-control-plane";
/**
 * Renewals every 200 ms. Where no lease has to expire, a leader has 8 s to renew, so that a
 * starved event loop does not make it step down; where one has to, leases last 4 s.
 */
const steady = { leaseDurationMs: 10_000, renewDeadlineMs: 8_000, retryPeriodMs: 200 };
const quick = { leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 200 };
/** How long a test waits for something before it fails: generous, for a loaded 2-core machine. */
const bound = 60_000;

interface Lease {
  metadata: { resourceVersion: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** A candidate and what it reported: its gate's changes and its log. */
interface Candidate {
  election: LeaderElection;
  changes: boolean[];
  logs: string[];
}

async function startKube(t: ExecutionContext): Promise<FakeKube> {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  return kube;
}

async function client(kube: FakeKube): Promise<KubeApi> {
  return await connectKube({ kubeconfig: kube.kubeconfigPath, env: {} });
}

/** Starts a candidate with a client of its own (or `more.api`); it is closed, without release, at teardown. */
async function candidate(
  t: ExecutionContext,
  kube: FakeKube,
  identity: string,
  more: Partial<LeaderElectionOptions> = {},
): Promise<Candidate> {
  const changes: boolean[] = [];
  const logs: string[] = [];
  const election = startLeaderElection({
    namespace,
    name,
    identity,
    ...steady,
    log: (message) => logs.push(message),
    ...more,
    api: more.api ?? (await client(kube)),
  });
  election.onChange((isLeader) => changes.push(isLeader));
  t.teardown(() => election.close({ release: false }));
  return { election, changes, logs };
}

/** Resolves with the first of `candidates` to lead. */
async function firstLeader(candidates: Candidate[]): Promise<Candidate> {
  const signal = AbortSignal.timeout(bound);
  const leader = await Promise.race(candidates.map((c) => c.election.whenLeading(signal).then(() => c)));
  return leader;
}

function storedLease(kube: FakeKube): Lease {
  const lease = kube.get("leases", namespace, name);
  if (!lease) throw new Error(`the Lease ${namespace}/${name} is not stored`);
  return lease as unknown as Lease;
}

/** The holders the Lease had, in order (each once per stretch), as a watch of it sees them. */
async function watchHolders(t: ExecutionContext, kube: FakeKube): Promise<string[]> {
  const api = await client(kube);
  const holders: string[] = [];
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  void (async () => {
    const query = { fieldSelector: `metadata.name=${name}` };
    const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    for await (const event of api.watch(path, query, controller.signal)) {
      const holder = String((event.object as unknown as Lease).spec?.holderIdentity ?? "");
      if (holders.at(-1) !== holder) holders.push(holder);
    }
  })().catch(() => undefined);
  await kube.watchOpened("leases");
  return holders;
}

/** Counts how many renewals (lease writes) the fake has answered with success. */
function leaseWrites(kube: FakeKube): number {
  return kube.requests.filter((r) => r.resource === "leases" && r.verb === "patch" && r.code === 200).length;
}

test("leader election: one of three candidates leads, the others see it hold the lease, never two at once", async (t) => {
  const kube = await startKube(t);
  const candidates = [
    await candidate(t, kube, "replica-a"),
    await candidate(t, kube, "replica-b"),
    await candidate(t, kube, "replica-c"),
  ];
  const leaders = () => candidates.filter((c) => c.election.isLeader()).length;
  const observed: number[] = [];
  const sampler = setInterval(() => observed.push(leaders()), 10);
  t.teardown(() => clearInterval(sampler));

  const leader = await firstLeader(candidates);
  const identity = leader.election.identity;
  // Until every candidate sees the leader hold the lease.
  await kube.until(() => candidates.every((c) => c.election.holder() === identity));
  // The leader keeps the lease through several renewals.
  const writes = leaseWrites(kube);
  // Until five renewals were written.
  await kube.until(() => leaseWrites(kube) >= writes + 5);
  clearInterval(sampler);

  t.is(leaders(), 1);
  t.true(leader.election.isLeader());
  t.true(
    observed.every((count) => count <= 1),
    `sampled leader counts: ${observed.join(",")}`,
  );
  for (const c of candidates) {
    t.deepEqual(c.changes, c === leader ? [true] : [], `gate changes of ${c.election.identity}`);
    t.is(c.election.holder(), identity);
  }
  const lease = storedLease(kube);
  t.is(lease.spec.holderIdentity, identity);
  t.is(lease.spec.leaseTransitions, 0, "created by its first holder");
  t.is(lease.spec.leaseDurationSeconds, 10);
  t.regex(String(lease.spec.acquireTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "a MicroTime");
  t.regex(String(lease.spec.renewTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, "a MicroTime");
  const creates = kube.requests.filter((r) => r.resource === "leases" && r.verb === "create");
  t.is(creates.filter((r) => r.code === 201).length, 1, "one create succeeded");
});

test("leader election: a leader that closes releases the lease and another takes it over, counting the transition", async (t) => {
  const kube = await startKube(t);
  const holders = await watchHolders(t, kube);
  const candidates = [
    await candidate(t, kube, "replica-a"),
    await candidate(t, kube, "replica-b"),
    await candidate(t, kube, "replica-c"),
  ];
  const first = await firstLeader(candidates);
  const others = candidates.filter((c) => c !== first);

  await first.election.close();
  t.false(first.election.isLeader());
  t.deepEqual(first.changes, [true, false], "the gate closed once");
  t.is(first.election.holder(), "", "its last sight of the lease is its release");
  t.true(first.logs.some((line) => line.includes("released the Lease")));

  const next = await firstLeader(others);
  t.not(next, first);
  t.is(others.filter((c) => c.election.isLeader()).length, 1);
  const lease = storedLease(kube);
  t.is(lease.spec.holderIdentity, next.election.identity);
  t.is(lease.spec.leaseTransitions, 1);
  // Until the watch sees the new holder.
  await kube.until(() => holders.at(-1) === next.election.identity);
  t.deepEqual(holders, [first.election.identity, "", next.election.identity], "released, then taken");
  await t.throwsAsync(first.election.whenLeading(), { message: /closed/ });
});

test("leader election: when the leader stops without releasing, another takes over only once the lease has expired", async (t) => {
  const kube = await startKube(t);
  const holders = await watchHolders(t, kube);
  const candidates = [
    await candidate(t, kube, "replica-a", quick),
    await candidate(t, kube, "replica-b", quick),
  ];
  const order: string[] = [];
  for (const c of candidates) {
    c.election.onChange((isLeader) => order.push(`${c.election.identity} ${isLeader ? "leads" : "stops"}`));
  }
  const crashed = await firstLeader(candidates);
  const [survivor] = candidates.filter((c) => c !== crashed);
  if (!survivor) throw new Error("two candidates, one leads");

  // As a crash: it stops renewing and leaves its name in the lease.
  await crashed.election.close({ release: false });
  order.push("crashed");
  const abandoned = storedLease(kube);
  t.is(abandoned.spec.holderIdentity, crashed.election.identity, "not released");
  t.false(survivor.election.isLeader(), "the lease has not expired yet");

  await survivor.election.whenLeading(AbortSignal.timeout(bound));
  const taken = storedLease(kube);
  t.is(taken.spec.holderIdentity, survivor.election.identity);
  t.is(taken.spec.leaseTransitions, 1);
  t.deepEqual(order, [
    `${crashed.election.identity} leads`,
    `${crashed.election.identity} stops`,
    "crashed",
    `${survivor.election.identity} leads`,
  ]);
  // The lease's own timestamps (one clock: this process) show the wait. A lower bound: a slow machine only lengthens it.
  const lastRenewal = Date.parse(String(abandoned.spec.renewTime));
  const acquired = Date.parse(String(taken.spec.acquireTime));
  t.true(
    acquired - lastRenewal >= quick.leaseDurationMs,
    `taken ${acquired - lastRenewal} ms after the last renewal`,
  );
  // Until the watch sees the new holder.
  await kube.until(() => holders.at(-1) === survivor.election.identity);
  t.deepEqual(holders, [crashed.election.identity, survivor.election.identity], "never released");
});

/**
 * A client whose first PATCH waits: it calls `held` when the PATCH is due and
 * sends it only once `go` resolves, then calls `sent`. Two of these make two
 * candidates write the lease one after the other on the version both read.
 */
function holdFirstPatch(api: KubeApi, hold: { held(): void; go: Promise<void>; sent?(): void }): KubeApi {
  let first = true;
  return {
    server: api.server,
    context: api.context,
    watch: (path, query, signal) => api.watch(path, query, signal),
    async request(request) {
      if (request.method !== "PATCH" || !first) return await api.request(request);
      first = false;
      hold.held();
      await hold.go;
      try {
        return await api.request(request);
      } finally {
        hold.sent?.();
      }
    },
  };
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

test("leader election: of two candidates taking an expired lease on the same version, the later write gets 409 and does not lead", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  // A holder that never renews: its lease expires for both candidates.
  const time = new Date().toISOString().replace("Z", "000Z");
  await api.request({
    method: "POST",
    path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
    body: {
      metadata: { name },
      spec: {
        holderIdentity: "gone",
        leaseDurationSeconds: 1,
        acquireTime: time,
        renewTime: time,
        leaseTransitions: 4,
      },
    },
  });
  const aDue = deferred();
  const bDue = deferred();
  const aSent = deferred();
  // A writes once both are about to; B writes after A has.
  const a = await candidate(t, kube, "replica-a", {
    ...quick,
    api: holdFirstPatch(await client(kube), { held: aDue.resolve, go: bDue.promise, sent: aSent.resolve }),
  });
  const b = await candidate(t, kube, "replica-b", {
    ...quick,
    api: holdFirstPatch(await client(kube), { held: bDue.resolve, go: aSent.promise }),
  });

  await a.election.whenLeading(AbortSignal.timeout(bound));
  // Until B sees A hold the lease.
  await kube.until(() => b.election.holder() === "replica-a");
  const conflicts = kube.requests.filter(
    (r) => r.resource === "leases" && r.verb === "patch" && r.code === 409,
  );
  t.is(conflicts.length, 1, "B's write on the version it read was refused");
  t.false(b.election.isLeader());
  t.deepEqual(b.changes, [], "B's gate never opened");
  t.deepEqual(a.changes, [true]);
  const lease = storedLease(kube);
  t.is(lease.spec.holderIdentity, "replica-a");
  t.is(lease.spec.leaseTransitions, 5, "one transition: from the lost holder to A");
});

test("leader election: a leader whose renewals fail steps down, reports it once, and leads again when they pass", async (t) => {
  const kube = await startKube(t);
  const a = await candidate(t, kube, "replica-a", quick);
  await a.election.whenLeading(AbortSignal.timeout(bound));

  // Renewals are spaced at least 200 ms apart, so 30 failures last past the 3 s renew deadline.
  kube.failRequests({ verb: "patch", resource: "leases" }, { code: 500 }, 30);
  // Until the leader steps down.
  await kube.until(() => a.changes.length >= 2);
  t.false(a.election.isLeader());
  t.is(a.election.holder(), "replica-a", "its name is still in the lease: nobody else took it");
  // Until the leader leads again once renewals pass.
  await kube.until(() => a.changes.length >= 3);

  t.deepEqual(a.changes, [true, false, true], "each change reported once");
  const failures = a.logs.filter((line) => line.includes("HTTP 500") || line.includes("injected fault"));
  t.is(failures.length, 1, `logged once, not at every retry: ${JSON.stringify(a.logs)}`);
  t.true(a.logs.some((line) => line.includes("reaches the Lease default/dispatch-control-plane again")));
  t.true(a.logs.some((line) => line.includes("stopped leading")));
});

test("leader election: close() clears every timer and nothing is sent afterwards", async (t) => {
  const kube = await startKube(t);
  // Node's timers, counted: how many are set and neither fired nor cleared.
  const pending = new Set<unknown>();
  const timers: Timers = {
    setTimeout(callback, ms) {
      const handle: unknown = systemTimers.setTimeout(() => {
        pending.delete(handle);
        callback();
      }, ms);
      pending.add(handle);
      return handle;
    },
    clearTimeout(handle) {
      pending.delete(handle);
      systemTimers.clearTimeout(handle);
    },
  };
  const a = await candidate(t, kube, "replica-a", { timers });
  const b = await candidate(t, kube, "replica-b", { timers });
  const leader = await firstLeader([a, b]);
  const waiting = leader === a ? b : a;
  // Until the other sees the leader.
  await kube.until(() => waiting.election.holder() === leader.election.identity);
  t.true(pending.size > 0, "a leader and a candidate have timers set");

  const stillWaiting = waiting.election.whenLeading();
  await Promise.all([leader.election.close(), waiting.election.close()]);
  t.is(pending.size, 0, "no timer left");
  await t.throwsAsync(stillWaiting, { message: /closed before it led/ });

  const sent = kube.requests.length;
  // Several retry periods of quiet (an absence, so a fixed wait is right here).
  await new Promise((resolve) => setTimeout(resolve, 5 * steady.retryPeriodMs));
  t.is(kube.requests.length, sent, "no request after close");
  t.false(a.election.isLeader());
  t.false(b.election.isLeader());
});

test("leader election: options that cannot work are refused with what to change", async (t) => {
  const kube = await startKube(t);
  const api = await client(kube);
  const error = t.throws(
    () =>
      startLeaderElection({
        api,
        namespace,
        name,
        identity: "",
        leaseDurationMs: 5_000,
        renewDeadlineMs: 5_000,
        retryPeriodMs: 0,
      }),
    { instanceOf: ConfigurationError },
  );
  t.regex(error?.message ?? "", /identity is empty/);
  t.regex(error?.message ?? "", /renewDeadlineMs \(5000\) must be below leaseDurationMs \(5000\)/);
  t.regex(error?.message ?? "", /retryPeriodMs is 0/);
});
