import { arrayAt, child, clone, isObject, type JsonObject, numberAt, objectAt, stringAt } from "../json.js";
import type { ObjectStore } from "../object-store.js";
import { findType, type ResourceType } from "../resource-types.js";
import { matchesLabels } from "../selectors.js";
import { isTerminating, metaOf } from "./owners.js";
import { containersOf, podCondition, restartCountOf, setContainerStatuses } from "./pod-status.js";

const pods = findType("", "v1", "pods") as ResourceType;

/** What a pod runner started for a pod: where it listens and how to stop it. */
export interface PodProcess {
  /** The pod's IP; default 127.0.0.1 when a runner is used. */
  ip?: string;
  /** The port the first declared container port is really served on (local processes cannot share one). */
  port?: number;
  /** Actual ports by declared container port, for pods with several. */
  ports?: Record<number, number>;
  /** Stops the process; the kubelet awaits it before a deleted pod goes away. */
  stop?(): void | Promise<void>;
  /** Settles when the process exits by itself: the kubelet records a crash and starts it again. */
  exited?: Promise<{ exitCode: number; reason?: string } | undefined>;
}

/**
 * Starts what runs as a pod, e.g. a real worker process, once the pod is
 * scheduled; the pod is Running once it resolves. A runner that throws is a
 * container that failed to start.
 */
export type PodRunner = (pod: JsonObject) => PodProcess | Promise<PodProcess>;

/** A failure the simulated node gives the pods a rule matches. */
export type PodFailure =
  | { reason: "ImagePullBackOff"; message?: string }
  | { reason: "CrashLoopBackOff"; exitCode?: number; restarts?: number }
  | { reason: "OOMKilled"; restarts?: number }
  | { reason: "Unschedulable"; message?: string };

/** Which pods a failure rule applies to: all given fields must match. */
export interface PodMatch {
  namespace?: string;
  labels?: Record<string, string>;
}

/** Options of the simulated kubelet. */
export interface KubeletOptions {
  store: ObjectStore;
  nodeName: string;
  runner: PodRunner | undefined;
  /** Ready this long after the container runs (default 0); ignored when `autoReady` is false. */
  readyDelayMs: number;
  /**
   * Where `readyDelayMs` counts from: `running` (the runner has started the
   * container) or `start` (the kubelet began starting it, so the runner's own
   * time is inside the delay, as a real node's container start is inside its
   * start-up time). Default `running`.
   */
  readyDelayFrom: "running" | "start";
  /** False: pods become ready only through `markReady` (or the readiness probe, when probing). */
  autoReady: boolean;
  /** Probe a container's httpGet readiness probe against the runner's address before it is ready. */
  probeReadiness: boolean;
  /** Time between readiness probes (default 100 ms; a real kubelet's periodSeconds is far longer). */
  probeIntervalMs: number;
  now(): string;
  onError(error: unknown): void;
}

interface PodState {
  uid: string;
  namespace: string;
  name: string;
  chain: Promise<void>;
  process: PodProcess | undefined;
  /** Bumped on every (re)start and stop, so a stale exit or probe of an older process is ignored. */
  incarnation: number;
  running: boolean;
  stopping: boolean;
  timers: Set<NodeJS.Timeout>;
  /** When the kubelet began starting the current incarnation (ms since the epoch). */
  startingSince: number;
}

/** Where a pod's containers are reachable: its IP and the real port of each declared container port. */
export interface PodAddress {
  ip: string;
  ports: Map<number, number>;
}

/**
 * A simulated node's kubelet and scheduler: binds new pods to the node (or
 * leaves them Unschedulable), starts them through the pod runner, reports
 * their status as a kubelet does (phase, podIP, conditions, container states,
 * restarts), makes them Ready, simulates image pull failures, crash loops and
 * OOM kills on request, restarts crashed containers, and ends deleted pods
 * gracefully (not ready, stopped, then removed).
 */
export class Kubelet {
  private readonly states = new Map<string, PodState>();
  private readonly addresses = new Map<string, PodAddress>();
  private failures: { match: PodMatch; failure: PodFailure }[] = [];
  private nextIP = 2;

  constructor(private readonly options: KubeletOptions) {}

  /** Where a running pod (by uid) is reachable, for the EndpointSlice controller. */
  addressOf(uid: string): PodAddress | undefined {
    return this.addresses.get(uid);
  }

  /** Adds a failure rule; returns what removes it. */
  addFailure(match: PodMatch, failure: PodFailure): () => void {
    const rule = { match, failure };
    this.failures.push(rule);
    return () => {
      this.failures = this.failures.filter((r) => r !== rule);
    };
  }

  private failureFor(pod: JsonObject): PodFailure | undefined {
    const { namespace } = metaOf(pod);
    const labels = objectAt(objectAt(pod, "metadata"), "labels");
    return this.failures.find(({ match }) => {
      if (match.namespace !== undefined && match.namespace !== namespace) return false;
      const selector = Object.entries(match.labels ?? {}).map(([key, value]) => ({
        key,
        operator: "in" as const,
        values: [value],
      }));
      return matchesLabels(selector, labels);
    })?.failure;
  }

  /** How long a pod's deletion takes: graceful for pods on this node, as a kubelet must confirm it. */
  gracePeriod(pod: JsonObject, requested: number | undefined): number | undefined {
    if (stringAt(objectAt(pod, "spec"), "nodeName") !== this.options.nodeName) return undefined;
    if (requested !== undefined) return requested;
    return numberAt(objectAt(pod, "spec"), "terminationGracePeriodSeconds") ?? 30;
  }

  private writeStatus(state: PodState, mutate: (status: JsonObject, pod: JsonObject) => void): void {
    const pod = this.options.store.find(pods, state.namespace, state.name);
    if (!pod || metaOf(pod).uid !== state.uid) return;
    const status = clone(objectAt(pod, "status") ?? {});
    mutate(status, pod);
    this.options.store.update(
      pods,
      state.namespace,
      state.name,
      { ...pod, status },
      { fieldManager: "kubelet", subresource: "status" },
    );
  }

  private run(state: PodState, task: () => void | Promise<void>): Promise<void> {
    const next = state.chain.then(task).catch((error) => this.options.onError(error));
    state.chain = next;
    return next;
  }

  /** Brings the node's view of one pod up to date; called for every change to a pod. */
  sync(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const pod = this.options.store.find(pods, namespace, name);
    let state = this.states.get(key);
    if (state && (!pod || metaOf(pod).uid !== state.uid)) {
      const gone = state;
      this.states.delete(key);
      void this.run(gone, () => this.stopProcess(gone));
      state = undefined;
    }
    if (!pod) return;
    const nodeName = stringAt(objectAt(pod, "spec"), "nodeName");
    if (!nodeName) {
      this.schedule(pod);
      return;
    }
    if (nodeName !== this.options.nodeName) return;
    if (!state) {
      if (isTerminating(pod)) {
        this.options.store.delete(pods, namespace, name, { gracePeriodSeconds: 0 });
        return;
      }
      const created: PodState = {
        uid: metaOf(pod).uid,
        namespace,
        name,
        chain: Promise.resolve(),
        process: undefined,
        incarnation: 0,
        running: false,
        stopping: false,
        timers: new Set(),
        startingSince: Date.now(),
      };
      this.states.set(key, created);
      void this.run(created, () => this.start(created, false));
      return;
    }
    if (isTerminating(pod) && !state.stopping) {
      const stopping = state;
      stopping.stopping = true;
      void this.run(stopping, () => this.terminate(stopping));
    }
  }

  private schedule(pod: JsonObject): void {
    const { namespace, name } = metaOf(pod);
    if (isTerminating(pod)) return;
    const failure = this.failureFor(pod);
    const store = this.options.store;
    if (failure?.reason === "Unschedulable") {
      const status = clone(objectAt(pod, "status") ?? {});
      status.phase = "Pending";
      podCondition(
        status,
        "PodScheduled",
        false,
        this.options.now(),
        "Unschedulable",
        failure.message ??
          "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
      );
      store.update(
        pods,
        namespace,
        name,
        { ...pod, status },
        { fieldManager: "kube-scheduler", subresource: "status" },
      );
      return;
    }
    const bound = clone(pod);
    child(bound, "spec").nodeName = this.options.nodeName;
    const written = store.update(pods, namespace, name, bound, { fieldManager: "kube-scheduler" });
    const status = clone(objectAt(written, "status") ?? {});
    podCondition(status, "PodScheduled", true, this.options.now());
    store.update(
      pods,
      namespace,
      name,
      { ...written, status },
      { fieldManager: "kube-scheduler", subresource: "status" },
    );
  }

  private async start(state: PodState, restart: boolean): Promise<void> {
    if (state.stopping) return;
    const incarnation = ++state.incarnation;
    state.startingSince = Date.now();
    const now = this.options.now();
    const failure = this.podFailure(state);
    this.writeStatus(state, (status, pod) => {
      status.phase = status.phase === "Running" ? "Running" : "Pending";
      podCondition(status, "Initialized", true, now);
      podCondition(
        status,
        "ContainersReady",
        false,
        now,
        "ContainersNotReady",
        "containers with unready status",
      );
      podCondition(status, "Ready", false, now, "ContainersNotReady", "containers with unready status");
      if (!restart)
        setContainerStatuses(pod, status, {
          state: { waiting: { reason: "ContainerCreating" } },
          ready: false,
          started: false,
        });
      status.hostIP = "10.0.0.1";
      status.hostIPs = [{ ip: "10.0.0.1" }];
      status.startTime ??= now;
    });
    if (failure?.reason === "ImagePullBackOff") {
      const pod = this.options.store.find(pods, state.namespace, state.name);
      const image = pod ? (containersOf(pod)[0]?.image ?? "") : "";
      const message = failure.message ?? `Back-off pulling image "${image}"`;
      this.writeStatus(state, (status, p) =>
        setContainerStatuses(p, status, {
          state: {
            waiting: {
              reason: "ErrImagePull",
              message: `failed to pull and unpack image "${image}": not found`,
            },
          },
          ready: false,
          started: false,
        }),
      );
      this.writeStatus(state, (status, p) =>
        setContainerStatuses(p, status, {
          state: { waiting: { reason: "ImagePullBackOff", message } },
          ready: false,
          started: false,
        }),
      );
      return;
    }
    const pod = this.options.store.find(pods, state.namespace, state.name);
    if (!pod) return;
    let process: PodProcess;
    try {
      process = this.options.runner ? await this.options.runner(pod) : {};
    } catch (error) {
      this.writeStatus(state, (status, p) =>
        setContainerStatuses(p, status, {
          state: {
            waiting: {
              reason: "CrashLoopBackOff",
              message: `the pod runner failed: ${(error as Error).message}`,
            },
          },
          lastState: {
            terminated: {
              exitCode: 128,
              reason: "StartError",
              message: (error as Error).message,
              startedAt: now,
              finishedAt: this.options.now(),
            },
          },
          restartCount: restartCountOf(p) + 1,
          ready: false,
          started: false,
        }),
      );
      return;
    }
    state.process = process;
    if (state.stopping || incarnation !== state.incarnation) return this.stopProcess(state);
    const address = this.addressFor(pod, process);
    this.addresses.set(state.uid, address);
    const startedAt = this.options.now();
    this.writeStatus(state, (status, p) => {
      status.phase = "Running";
      status.podIP = address.ip;
      status.podIPs = [{ ip: address.ip }];
      setContainerStatuses(p, status, {
        state: { running: { startedAt } },
        ready: false,
        started: true,
        containerID: `fake://${state.uid}-${incarnation}`,
      });
    });
    state.running = true;
    if (failure?.reason === "CrashLoopBackOff" || failure?.reason === "OOMKilled") {
      const oom = failure.reason === "OOMKilled";
      const exitCode = oom ? 137 : (failure.exitCode ?? 1);
      const restarts = Math.max(1, failure.restarts ?? 3);
      await this.stopProcess(state);
      for (let i = 0; i < restarts; i++)
        this.recordCrash(state, exitCode, oom ? "OOMKilled" : "Error", startedAt);
      return;
    }
    process.exited?.then(
      (exit) => {
        if (incarnation !== state.incarnation || state.stopping) return;
        void this.run(state, async () => {
          if (incarnation !== state.incarnation || state.stopping) return;
          await this.stopProcess(state);
          this.recordCrash(state, exit?.exitCode ?? 1, exit?.reason ?? "Error", startedAt);
          await this.start(state, true);
        });
      },
      (error) => this.options.onError(error),
    );
    this.scheduleReadiness(state, incarnation, pod, address);
  }

  private podFailure(state: PodState): PodFailure | undefined {
    const pod = this.options.store.find(pods, state.namespace, state.name);
    return pod ? this.failureFor(pod) : undefined;
  }

  private addressFor(pod: JsonObject, process: PodProcess): PodAddress {
    const ip = process.ip ?? (this.options.runner ? "127.0.0.1" : `10.244.0.${this.nextIP++}`);
    const ports = new Map<number, number>();
    const declared = arrayAt(objectAt(pod, "spec"), "containers")
      .filter(isObject)
      .flatMap((c) =>
        arrayAt(c, "ports")
          .filter(isObject)
          .map((p) => numberAt(p, "containerPort") ?? 0),
      );
    for (const port of declared) ports.set(port, process.ports?.[port] ?? port);
    if (
      process.port !== undefined &&
      declared[0] !== undefined &&
      process.ports?.[declared[0]] === undefined
    ) {
      ports.set(declared[0], process.port);
    }
    return { ip, ports };
  }

  private recordCrash(state: PodState, exitCode: number, reason: string, startedAt: string): void {
    state.running = false;
    this.addresses.delete(state.uid);
    const finishedAt = this.options.now();
    this.writeStatus(state, (status, pod) => {
      const restarts = restartCountOf(pod) + 1;
      const now = this.options.now();
      podCondition(
        status,
        "ContainersReady",
        false,
        now,
        "ContainersNotReady",
        "containers with unready status",
      );
      podCondition(status, "Ready", false, now, "ContainersNotReady", "containers with unready status");
      const name = containersOf(pod)[0]?.name ?? "";
      setContainerStatuses(pod, status, {
        state: {
          waiting: {
            reason: "CrashLoopBackOff",
            message: `back-off ${Math.min(300, 10 * 2 ** (restarts - 1))}s restarting failed container=${name} pod=${state.name}_${state.namespace}(${state.uid})`,
          },
        },
        lastState: { terminated: { exitCode, reason, startedAt, finishedAt } },
        restartCount: restarts,
        ready: false,
        started: false,
      });
    });
  }

  private scheduleReadiness(
    state: PodState,
    incarnation: number,
    pod: JsonObject,
    address: PodAddress,
  ): void {
    const probe = this.options.probeReadiness ? httpProbeOf(pod, address) : undefined;
    if (probe) {
      void this.probeUntilReady(state, incarnation, probe);
      return;
    }
    if (!this.options.autoReady) return;
    const ready = () => void this.run(state, () => this.setReady(state, incarnation, true));
    const delay =
      this.options.readyDelayFrom === "start"
        ? this.options.readyDelayMs - (Date.now() - state.startingSince)
        : this.options.readyDelayMs;
    if (delay <= 0) {
      ready();
      return;
    }
    const timer = setTimeout(() => {
      state.timers.delete(timer);
      ready();
    }, delay);
    state.timers.add(timer);
  }

  private async probeUntilReady(state: PodState, incarnation: number, url: string): Promise<void> {
    while (incarnation === state.incarnation && !state.stopping) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.status >= 200 && res.status < 400) {
          await this.run(state, () => this.setReady(state, incarnation, true));
          return;
        }
      } catch {
        // Not answering yet: probe again, as a kubelet does every period.
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          state.timers.delete(timer);
          resolve();
        }, this.options.probeIntervalMs);
        state.timers.add(timer);
      });
    }
  }

  private setReady(state: PodState, incarnation: number | undefined, ready: boolean): void {
    if (incarnation !== undefined && incarnation !== state.incarnation) return;
    if (!state.running || state.stopping) return;
    const now = this.options.now();
    this.writeStatus(state, (status, pod) => {
      podCondition(
        status,
        "ContainersReady",
        ready,
        now,
        ready ? undefined : "ContainersNotReady",
        ready ? undefined : "containers with unready status",
      );
      podCondition(
        status,
        "Ready",
        ready,
        now,
        ready ? undefined : "ContainersNotReady",
        ready ? undefined : "containers with unready status",
      );
      const first = arrayAt(status, "containerStatuses")[0];
      const running = isObject(first) ? objectAt(first, "state") : undefined;
      setContainerStatuses(pod, status, {
        state: running ?? { running: { startedAt: now } },
        ready,
        started: true,
      });
    });
  }

  private stateOf(namespace: string, name: string): PodState {
    const state = this.states.get(`${namespace}/${name}`);
    if (!state)
      throw new Error(
        `pod ${namespace}/${name} is not running on ${this.options.nodeName} (not created yet, not scheduled, or gone)`,
      );
    return state;
  }

  /** Makes a running pod Ready (or not ready), as a passing (failing) readiness probe would. */
  async setPodReady(namespace: string, name: string, ready: boolean): Promise<void> {
    const state = this.stateOf(namespace, name);
    await this.run(state, () => {
      if (!state.running)
        throw new Error(
          `pod ${namespace}/${name} has no running container to mark ${ready ? "ready" : "unready"}`,
        );
      this.setReady(state, undefined, ready);
    });
  }

  /** Kills a pod's container as a crash would (reason Error, or OOMKilled); the kubelet restarts it. */
  async crash(
    namespace: string,
    name: string,
    how: { reason?: "Error" | "OOMKilled"; exitCode?: number } = {},
  ): Promise<void> {
    const state = this.stateOf(namespace, name);
    await this.run(state, async () => {
      if (state.stopping) return;
      const pod = this.options.store.find(pods, namespace, name);
      const first = arrayAt(objectAt(pod, "status"), "containerStatuses")[0];
      const startedAt =
        stringAt(objectAt(objectAt(isObject(first) ? first : {}, "state"), "running"), "startedAt") ??
        this.options.now();
      state.incarnation += 1;
      await this.stopProcess(state);
      const reason = how.reason ?? "Error";
      this.recordCrash(state, how.exitCode ?? (reason === "OOMKilled" ? 137 : 1), reason, startedAt);
      await this.start(state, true);
    });
  }

  private async terminate(state: PodState): Promise<void> {
    const now = this.options.now();
    this.writeStatus(state, (status, pod) => {
      podCondition(
        status,
        "ContainersReady",
        false,
        now,
        "ContainersNotReady",
        "containers with unready status",
      );
      podCondition(status, "Ready", false, now, "ContainersNotReady", "containers with unready status");
      const first = arrayAt(status, "containerStatuses")[0];
      const current = isObject(first) ? objectAt(first, "state") : undefined;
      setContainerStatuses(pod, status, { state: current ?? {}, ready: false, started: state.running });
    });
    state.incarnation += 1;
    await this.stopProcess(state);
    const pod = this.options.store.find(pods, state.namespace, state.name);
    if (pod && metaOf(pod).uid === state.uid) {
      this.options.store.delete(pods, state.namespace, state.name, { gracePeriodSeconds: 0 });
    }
  }

  private async stopProcess(state: PodState): Promise<void> {
    for (const timer of state.timers) clearTimeout(timer);
    state.timers.clear();
    state.running = false;
    this.addresses.delete(state.uid);
    const process = state.process;
    state.process = undefined;
    await process?.stop?.();
  }

  /** Stops every pod's process (the node goes away). */
  async close(): Promise<void> {
    const states = [...this.states.values()];
    this.states.clear();
    await Promise.all(
      states.map((state) => {
        state.stopping = true;
        state.incarnation += 1;
        return this.run(state, () => this.stopProcess(state));
      }),
    );
  }
}

/** The URL of a pod's httpGet readiness probe at its real address, if it declares one. */
function httpProbeOf(pod: JsonObject, address: PodAddress): string | undefined {
  for (const container of arrayAt(objectAt(pod, "spec"), "containers").filter(isObject)) {
    const httpGet = objectAt(objectAt(container, "readinessProbe"), "httpGet");
    if (!httpGet) continue;
    let port = httpGet.port;
    if (typeof port === "string") {
      const named = arrayAt(container, "ports").find((p) => isObject(p) && p.name === port);
      port = isObject(named) ? (named.containerPort ?? null) : Number(port);
    }
    if (typeof port !== "number") continue;
    const real = address.ports.get(port) ?? port;
    const path = stringAt(httpGet, "path") ?? "/";
    return `http://${address.ip.includes(":") ? `[${address.ip}]` : address.ip}:${real}${path.startsWith("/") ? path : `/${path}`}`;
  }
  return undefined;
}
