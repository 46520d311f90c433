import { randomUUID } from "node:crypto";
import { readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ErrorType, Phase, type Run, RunErrorSchema } from "@dispatch/proto";
import type { NatsHealth } from "@dispatch/server-kit";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { KV, Kvm } from "@nats-io/kv";
import type { ErrorLogger } from "../errors.js";
import type { RunStore } from "./run-store.js";

/**
 * The async runs a control plane is running in the background, kept in NATS
 * so that those a crash cut off do not stay INITIALIZED forever: once their
 * control plane is known to be gone, they end as failed (SystemError,
 * "interrupted").
 */
export interface InFlightRuns {
  /** This control plane's id (a new one at each start). */
  readonly instance: string;
  /** Records that this control plane runs `run` in the background; call before its first record is stored. */
  begin(run: Run): Promise<void>;
  /** Forgets a run that finished (its last record is stored, or it is dropped). Never throws. */
  end(run: Run): Promise<void>;
  /** Fails the unfinished runs of control planes that are gone; resolves with how many it failed. */
  sweep(): Promise<number>;
  /** Stops the heartbeat and sweeps, and removes this control plane's liveness record. */
  close(): Promise<void>;
}

/** What {@link startInFlightRuns} needs. */
export interface InFlightRunsOptions {
  kvm: Kvm;
  jsm: JetStreamManager;
  replicas: number;
  runs: RunStore;
  health: NatsHealth;
  log: ErrorLogger;
  /** Where this control plane runs, for telling whether a pid is alive; default the host name and pid namespace. */
  machine?: string;
}

/** What a control plane writes about itself and about each run it has in flight. */
interface Owner {
  instance: string;
  /** Host name and pid namespace: where `pid` means something. */
  machine: string;
  pid: number;
  started: string;
}

/**
 * How long a control plane counts as alive after its last heartbeat. It
 * beats every third of that. KV `max_age` (nats-server 2.9 has no per-message
 * TTL) drops the records of those that stopped.
 */
const livenessTtlMs = 30_000;

/** The message of a run cut off by the end of its control plane. */
export const interruptedMessage =
  "interrupted by a control-plane restart: the control plane running this call stopped before it finished (crash or kill); run it again";

/** Instances alive in this process (a test may run several control planes in one). */
const liveHere = new Set<string>();

/**
 * Starts the bookkeeping: a liveness record with a TTL for this control plane
 * (bucket `control_planes`), one record per async run in flight (bucket
 * `async_runs`, key `<instance>.<org>.<function>.<run>`), and a sweep now
 * and then that fails the runs of instances that are gone. An instance is gone
 * when its process on this machine no longer exists, or when its liveness
 * record expired while this one was connected to NATS for a whole TTL (so a
 * NATS outage, which stops every heartbeat, does not make live replicas look dead).
 */
export async function startInFlightRuns(options: InFlightRunsOptions): Promise<InFlightRuns> {
  const { kvm, jsm, replicas, runs, health, log } = options;
  const inFlight = await kvm.create("async_runs", { history: 1, replicas });
  const alive = await kvm.create("control_planes", { history: 1, replicas, ttl: livenessTtlMs });
  const self: Owner = {
    instance: randomUUID(),
    machine: options.machine ?? thisMachine(),
    pid: process.pid,
    started: new Date().toISOString(),
  };
  liveHere.add(self.instance);
  const beat = () => alive.put(self.instance, JSON.stringify(self));
  await beat();

  // Removed with the stream's purge, not a KV delete: a delete would leave a
  // marker per run behind, forever.
  const forget = (key: string) => jsm.streams.purge("KV_async_runs", { filter: `$KV.async_runs.${key}` });
  let sweeping: Promise<number> | undefined;
  const sweep = () => {
    sweeping ??= sweepGone(inFlight, forget, alive, self, runs, health, log).finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  };
  const report = (what: string) => (err: unknown) => {
    // During a NATS outage these fail; the next tick tries again.
    if (!health.unavailable()) log(what, err);
  };
  let ticks = 0;
  const timer = setInterval(() => {
    void beat().catch(report("control-plane heartbeat"));
    if (++ticks % 3 === 0) void sweep().catch(report("sweeping interrupted runs"));
  }, livenessTtlMs / 3);
  timer.unref();
  // Runs cut off by this machine's last crash end now; others once their TTL ran out.
  void sweep().catch(report("sweeping interrupted runs"));

  const key = (run: Run) => `${self.instance}.${run.meta?.org}.${run.spec?.function}.${run.meta?.name}`;
  return {
    instance: self.instance,
    async begin(run) {
      await inFlight.put(key(run), JSON.stringify(self));
    },
    async end(run) {
      await forget(key(run)).then(() => undefined, report(`forgetting async run ${run.meta?.name}`));
    },
    sweep,
    async close() {
      clearInterval(timer);
      await sweeping?.catch(() => undefined);
      liveHere.delete(self.instance);
      await alive.delete(self.instance).catch(() => undefined);
    },
  };
}

async function sweepGone(
  inFlight: KV,
  forget: (key: string) => Promise<unknown>,
  alive: KV,
  self: Owner,
  runs: RunStore,
  health: NatsHealth,
  log: ErrorLogger,
): Promise<number> {
  const byInstance = new Map<string, string[]>();
  for await (const key of await inFlight.keys()) {
    const instance = key.slice(0, key.indexOf("."));
    if (instance === self.instance) continue;
    byInstance.set(instance, [...(byInstance.get(instance) ?? []), key]);
  }
  let failed = 0;
  for (const [instance, keys] of byInstance) {
    const first = keys[0];
    const entry = first ? await inFlight.get(first) : null;
    const owner = entry?.operation === "PUT" ? parseOwner(entry.string()) : undefined;
    if (!(await isGone(instance, owner, alive, self, health))) continue;
    for (const key of keys) {
      const [, org = "", fn = "", id = ""] = key.split(".");
      if (await runs.rewrite(org, fn, id, interrupt)) {
        failed++;
        log(`async run ${id} of ${org}/${fn}`, new Error(interruptedMessage));
      }
      await forget(key);
    }
  }
  return failed;
}

async function isGone(
  instance: string,
  owner: Owner | undefined,
  alive: KV,
  self: Owner,
  health: NatsHealth,
): Promise<boolean> {
  // On this machine the process tells at once (a pid reused since counts as alive: the TTL decides).
  if (owner?.machine === self.machine) {
    if (owner.pid === self.pid) return !liveHere.has(instance);
    if (!processExists(owner.pid)) return true;
  }
  const liveness = await alive.get(instance);
  if (liveness?.operation === "PUT") return false;
  // No liveness record: gone, unless heartbeats could not be written lately.
  const connectedAt = health.connectedAt;
  return connectedAt !== undefined && Date.now() - connectedAt.getTime() >= livenessTtlMs;
}

/** The run as failed by an interruption, or undefined when it had finished. */
function interrupt(run: Run): Run | undefined {
  const status = run.status;
  if (!status || status.phase === Phase.READY || status.phase === Phase.ERROR) return undefined;
  const finished = new Date();
  status.phase = Phase.ERROR;
  status.error = create(RunErrorSchema, { type: ErrorType.SYSTEM_ERROR, message: interruptedMessage });
  status.reason = [`SystemError: ${interruptedMessage}`];
  status.finished = timestampFromDate(finished);
  const started = status.started ? timestampDate(status.started).getTime() : finished.getTime();
  status.duration = durationFromMs(Math.max(0, finished.getTime() - started));
  if (run.meta) run.meta.modified = timestampFromDate(finished);
  return run;
}

function parseOwner(text: string): Owner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<Owner>;
    if (typeof owner.machine !== "string" || typeof owner.pid !== "number") return undefined;
    return owner as Owner;
  } catch {
    return undefined;
  }
}

/** This host and its pid namespace: pids compare only within both. */
function thisMachine(): string {
  let namespace = "";
  try {
    namespace = readlinkSync("/proc/self/ns/pid");
  } catch {
    // no /proc: the host name alone
  }
  return `${hostname()}/${namespace}`;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
