/**
 * Cold start on Kubernetes: a function whose Deployment is at zero replicas,
 * with no pod left, woken by one HTTP call through the activator; the time to
 * the first byte of its answer, less the simulated kubelet delay D, over many
 * wakes. The issue's figure: with D = 1 s, (time to first byte − D) p99 over
 * at least 100 wakes from zero, target ≤ 50 ms.
 *
 * The parts, as the Kubernetes tests run them (`startKubeDispatch`), but the
 * fake Kubernetes API server (with its simulated controllers and kubelet) is
 * on a worker thread of its own (`fake-cluster-thread.ts`), as a real API
 * server runs apart from the control plane: in one event loop its writes
 * (each copies the objects it touches) held up the control plane's work by
 * 20-30 ms a wake. The control plane (with the Kubernetes driver against the
 * fake, its own nats-server) and the calls are on this thread. The kubelet
 * runs each pod as the runtime image does (`runtimePodRunner`): the bundle
 * fetched from the control plane by one node process, then the real node
 * worker; the pod turns Ready D after the kubelet began starting it
 * (`readyDelayFrom: "start"`), so D is the whole simulated kubelet, the pod's
 * own start (the bundle fetch, the worker's start) inside it; with
 * BENCH_D_FROM=running, D starts once the container runs and the pod's start
 * is inside (time to first byte − D).
 *
 * Each wake: wait until the function's Deployment is at 0 replicas, no pod of
 * it is left (both as this thread's watches of the fake see them) and its
 * status says 0 ready instances (it scales to zero after an idle timeout of
 * `idleMs`), then one GET through the activator on a new loopback connection;
 * the time to the answer's first byte (its headers) is the figure. One wake of
 * each function comes first, unmeasured.
 *
 * The baseline, on the same wakes: the fake cluster's own pipeline with no
 * control plane in it, from the pod's creation to the pod Ready (its worker
 * listening), both as a watch of the fake sees them. The wake's time less D is
 * split into parts that add up exactly per wake; the runner's start and end
 * are timed where the kubelet calls it, the other milestones are when this
 * thread's watches (of Deployments, pods, EndpointSlices) saw them, which is
 * when the driver's own informers can see them too:
 *
 *   control plane  call → Deployment at 1 replica (activator, pool, the driver's PATCH /scale)
 *   fake cluster   → the pod runner starts (Deployment and ReplicaSet controllers, scheduler, kubelet)
 *   pod start      the runner: bundle fetch and the node worker's start (two node processes)
 *   fake kubelet   runner starts → pod Ready, less D (with BENCH_D_FROM=running: the pod
 *                  start, then runner done → pod Ready, less D)
 *   fake cluster   Ready → its endpoint ready (the EndpointSlice controller)
 *   control plane  endpoint ready → first byte (the driver's informers, the pool, the
 *                  activator's forward, the worker's answer)
 *
 * Beside them, the floor of the pod's own part: just before each wake (while
 * nothing else moves), the same node worker started directly, with no pod,
 * bundle fetch or control plane, and called once; its start and its first
 * answer (a fresh process answers its first request slower) are set against
 * the wake's pod start and the control plane's last part, paired per wake.
 *
 * The fake's controllers do in-memory work where a real cluster's take
 * milliseconds to seconds (watch fan-out, controller queues, the scheduler,
 * the image and the container runtime): the figure is the control plane's
 * share beside a fast cluster, not a cold start on a real one.
 *
 *   npm run build && node bench/dist/src/k8s-cold-start.js [wakes=100] [functions=1] [delayMs=1000] [idleMs=300]
 *
 * With `functions` > 1 the wakes go round-robin over that many functions, so
 * one function's scale-down overlaps the others' wakes (wakes are still
 * measured one at a time). BENCH_BUDGET_S (default 540) bounds the run:
 * sampling stops at the bound and says how many wakes it got.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Worker } from "node:worker_threads";
import { connectKube, createKubernetesDriver, type KubeApi } from "@dispatch/kubernetes-driver";
import { parseWorkerLine, WORKER_TOKEN_HEADER, workerCommand } from "@dispatch/runtimes";
import { freePort, startDispatch, type TestDispatch } from "@dispatch/testkit";
import { type Clients, clients, createFunction, waitFor } from "./dispatch.js";
import { type FakeClusterMessage, type FakeClusterSettings, monotonicMs } from "./fake-cluster-thread.js";
import { format, type Summary, summarize } from "./stats.js";

const wakes = Number(process.argv[2] ?? 100);
const functionCount = Number(process.argv[3] ?? 1);
const delayMs = Number(process.argv[4] ?? 1000);
const idleMs = Number(process.argv[5] ?? 300);
if (
  !(Number.isInteger(wakes) && wakes >= 1) ||
  !(Number.isInteger(functionCount) && functionCount >= 1) ||
  !(delayMs >= 0) ||
  !(idleMs > 0)
) {
  throw new Error(
    "usage: k8s-cold-start.js [wakes=100 (≥ 1)] [functions=1 (≥ 1)] [delayMs=1000 (≥ 0)] [idleMs=300 (> 0)]",
  );
}
const budgetMs = Number(process.env.BENCH_BUDGET_S ?? 540) * 1000;
/**
 * Where D counts from (BENCH_D_FROM): `start` (default), from when the fake
 * kubelet begins starting the pod, so D is the whole simulated kubelet,
 * the pod's own start (bundle fetch, worker start) inside it, as on a node
 * whose container start-up takes D; `running`, from when the container runs,
 * so the pod's start is outside D and inside (time to first byte − D).
 */
const delayFrom = process.env.BENCH_D_FROM === "running" ? "running" : "start";
const targetP99Ms = 50;
const namespace = "dispatch";
/** How long one wake may take to answer, or to be back at zero, before the bench gives up. */
const stateBoundMs = 120_000;

const startedAt = Date.now();
// A run that overruns its bound by far (a hung await) ends here rather than never.
setTimeout(() => {
  console.error(`k8s-cold-start: still running ${(budgetMs + 180_000) / 1000} s after the start; giving up`);
  process.exit(2);
}, budgetMs + 180_000).unref();

/** What one wake went through, as {@link monotonicMs} times. */
interface Wake {
  fn: string;
  sent: number;
  /** The function's Deployment went to 1 replica. */
  scaled?: number;
  /** The pod the wake made, and when it was created. */
  pod?: string;
  created?: number;
  /** The kubelet ran the pod runner (bundle fetch, worker start) from … to … */
  containerStart?: number;
  containerEnd?: number;
  /** The pod's Ready condition turned True. */
  ready?: number;
  /** The pod's endpoint in its EndpointSlice turned ready. */
  endpoint?: number;
  firstByte?: number;
  /** A bare worker started and called just before the wake (see {@link bareWorker}). */
  bare?: BareWorker;
}
type Measured = Required<Wake>;

/** What a bare worker took: its start (spawn → DISPATCH_READY) and its first answer (GET → first byte). */
interface BareWorker {
  start: number;
  firstAnswer: number;
}

type Labelled = { metadata?: { name?: string; labels?: Record<string, string> } };
type Resource = "deployments" | "pods" | "endpointslices";
const functionOf = (object: unknown) => (object as Labelled).metadata?.labels?.["dispatch.dev/function"];
const nameOf = (object: unknown) => String((object as Labelled).metadata?.name ?? "");

/** The runner's start and end by pod name, as the fake's thread reports them. */
const containers = new Map<string, { start: number; end: number }>();
/** Deployments and pods of the namespace, as this thread's watches last saw them. */
const seen: Record<"deployments" | "pods", Map<string, Record<string, unknown>>> = {
  deployments: new Map(),
  pods: new Map(),
};
let current: Wake | undefined;
let failure: Error | undefined;
const changed = new Set<() => void>();
const tellChanged = () => {
  for (const check of [...changed]) check();
};

/** Keeps the state seen and records the milestones of the wake in progress that a watch event shows. */
function observe(resource: Resource, type: string, object: Record<string, unknown>): void {
  const at = monotonicMs();
  if (resource !== "endpointslices") {
    if (type === "DELETED") seen[resource].delete(nameOf(object));
    else seen[resource].set(nameOf(object), object);
  }
  const wake = current;
  if (!wake) return;
  if (resource === "deployments" && functionOf(object) === wake.fn) {
    const replicas = (object.spec as { replicas?: number } | undefined)?.replicas ?? 0;
    if (replicas >= 1) wake.scaled ??= at;
  } else if (resource === "pods" && functionOf(object) === wake.fn) {
    // The wake began with no pod of the function in sight: the first one added is the wake's.
    if (wake.pod === undefined && type === "ADDED") {
      wake.pod = nameOf(object);
      wake.created = at;
    }
    const conditions = (object.status as { conditions?: { type?: string; status?: string }[] } | undefined)
      ?.conditions;
    const ready = conditions?.some((c) => c.type === "Ready" && c.status === "True");
    if (nameOf(object) === wake.pod && ready) wake.ready ??= at;
  } else if (resource === "endpointslices" && wake.pod !== undefined) {
    const endpoints =
      (object.endpoints as
        | { targetRef?: { name?: string }; conditions?: { ready?: boolean } }[]
        | undefined) ?? [];
    if (endpoints.some((e) => e.targetRef?.name === wake.pod && e.conditions?.ready === true))
      wake.endpoint ??= at;
  }
}

/** Follows one collection of the namespace for the whole run; the fake never ends a watch by itself. */
async function follow(api: KubeApi, resource: Resource, signal: AbortSignal): Promise<void> {
  const group = {
    deployments: "/apis/apps/v1",
    pods: "/api/v1",
    endpointslices: "/apis/discovery.k8s.io/v1",
  };
  const path = `${group[resource]}/namespaces/${namespace}/${resource}`;
  try {
    for await (const event of api.watch(path, {}, signal)) {
      if (event.type === "ERROR") throw new Error(`an error event: ${JSON.stringify(event.object)}`);
      if (event.type !== "BOOKMARK") observe(resource, event.type, event.object);
      tellChanged();
    }
    if (!signal.aborted) throw new Error("the server ended it");
  } catch (err) {
    if (signal.aborted) return;
    failure = new Error(
      `the bench's watch of ${path} stopped (${(err as Error).message}); its wakes cannot be timed, so the run stops`,
    );
    tellChanged();
  }
}

/** Resolves once `check` holds, checked on every watch event (and every 100 ms, for what the API reports). */
function until(check: () => boolean, what: string, boundMs = stateBoundMs): Promise<void> {
  return new Promise((resolve, reject) => {
    const test = () => {
      if (failure) finish(failure);
      else if (check()) finish(undefined);
    };
    const timer = setTimeout(
      () => finish(new Error(`${what}: not seen within ${boundMs / 1000} s`)),
      boundMs,
    );
    const tick = setInterval(test, 100);
    const finish = (error: Error | undefined) => {
      clearTimeout(timer);
      clearInterval(tick);
      changed.delete(test);
      if (error) reject(error);
      else resolve();
    };
    changed.add(test);
    test();
  });
}

/** The function's Deployment is at 0 replicas and no pod of it is left. */
function atZero(fn: string): boolean {
  const deployment = [...seen.deployments.values()].find((d) => functionOf(d) === fn);
  const replicas = (deployment?.spec as { replicas?: number } | undefined)?.replicas;
  return replicas === 0 && ![...seen.pods.values()].some((p) => functionOf(p) === fn);
}

/** One GET on a new connection; resolves with the time its first byte (the headers) arrived, once read. */
function call(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers }, (res) => {
      const firstByte = monotonicMs();
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.once("end", () => {
        if (res.statusCode === 200 && body === "awake") resolve(firstByte);
        else reject(new Error(`GET ${url} answered ${res.statusCode}: ${body.slice(0, 300)}`));
      });
    });
    req.setTimeout(stateBoundMs, () => req.destroy(new Error(`no answer within ${stateBoundMs / 1000} s`)));
    req.once("error", reject);
    req.end();
  });
}

/**
 * The same node worker as a pod runs, started directly in a directory that
 * holds the handler (no pod, no bundle fetch, no control plane), called once
 * with GET /http/ on a new connection, then stopped: the floor of the pod's
 * own part of a wake, for its start and for its first answer (a fresh
 * process answers its first request slower than the next ones).
 */
async function bareWorker(dir: string, handler: string): Promise<BareWorker> {
  const token = randomBytes(24).toString("base64url");
  const command = workerCommand("nodejs");
  const spawned = monotonicMs();
  const child = spawn(command.command, command.args, {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      DISPATCH_FUNCTION_DIR: dir,
      DISPATCH_HANDLER: handler,
      DISPATCH_WORKER_TOKEN: token,
      DISPATCH_HOST: "127.0.0.1",
      DISPATCH_PORT: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    let said = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      said += chunk.toString("utf8");
    });
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        const parsed = parseWorkerLine(line);
        if (parsed?.kind === "ready") resolve(parsed.port);
      });
      void exited.then(() => reject(new Error(`the bare worker exited before it was ready: ${said.trim()}`)));
    });
    const ready = monotonicMs();
    const firstByte = await call(`http://127.0.0.1:${port}/http/`, { [WORKER_TOKEN_HEADER]: token });
    return { start: ready - spawned, firstAnswer: firstByte - ready };
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
}

/**
 * Waits until `fn` is at zero, starts and calls a bare worker (while nothing
 * else moves), then wakes `fn` with one call; returns the wake with all its
 * milestones.
 */
async function wake(
  dispatch: TestDispatch,
  api: Clients,
  activator: string,
  dir: string,
  fn: string,
): Promise<Measured> {
  await until(() => atZero(fn), `${fn} back at zero replicas with no pod`);
  await waitFor(api.functions, fn, (f) => f.status?.readyInstances === 0, stateBoundMs);
  const bare = await bareWorker(dir, `${fn}.js`);
  const woken: Wake = { fn, sent: monotonicMs(), bare };
  current = woken;
  try {
    woken.firstByte = await call(`${activator}/default/${fn}/`, { "dispatch-token": dispatch.token });
    // The watches may see the last milestones after the driver's informers did.
    await until(
      () =>
        woken.scaled !== undefined &&
        woken.ready !== undefined &&
        woken.endpoint !== undefined &&
        containers.has(woken.pod ?? ""),
      `${fn}: the wake's scale-up, pod run, Ready pod and ready endpoint`,
      30_000,
    );
  } finally {
    current = undefined;
  }
  const container = containers.get(woken.pod ?? "") as { start: number; end: number };
  containers.delete(woken.pod ?? "");
  return { ...woken, containerStart: container.start, containerEnd: container.end } as Measured;
}

/** Starts the fake cluster's thread; resolves with the thread and its kubeconfig once it listens. */
async function startFakeClusterThread(): Promise<{ thread: Worker; kubeconfigPath: string }> {
  const settings: FakeClusterSettings = { namespace, readyDelayMs: delayMs, readyDelayFrom: delayFrom };
  const thread = new Worker(new URL("./fake-cluster-thread.js", import.meta.url), { workerData: settings });
  thread.on("error", (err) => {
    failure = new Error(`the fake cluster's thread failed: ${err.message}`, { cause: err });
    tellChanged();
  });
  thread.on("message", (message: FakeClusterMessage) => {
    if (message.type === "container") {
      containers.set(message.pod, { start: message.start, end: message.end });
      tellChanged();
    }
  });
  const kubeconfigPath = await new Promise<string>((resolve, reject) => {
    thread.on("message", (message: FakeClusterMessage) => {
      if (message.type === "started") resolve(message.kubeconfigPath);
    });
    thread.once("error", reject);
    thread.once("exit", (code) =>
      reject(new Error(`the fake cluster's thread exited (${code}) before it listened`)),
    );
  });
  return { thread, kubeconfigPath };
}

/** Closes the fake cluster (stopping its pods' processes) and ends its thread. */
async function stopFakeClusterThread(thread: Worker): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    thread.on("message", (message: FakeClusterMessage) => {
      if (message.type === "closed") resolve();
    });
    thread.once("exit", () => resolve());
  });
  thread.postMessage({ type: "close" });
  await closed;
  await thread.terminate();
}

/**
 * A control plane with the Kubernetes driver against the fake, set up as
 * `startKubeDispatch` does; that helper wants the fake in this thread.
 */
async function startControlPlane(kubeconfigPath: string): Promise<TestDispatch> {
  const port = await freePort();
  return await startDispatch({
    controlPlane: {
      port,
      async driver(host) {
        const driver = createKubernetesDriver({
          api: await connectKube({ kubeconfig: kubeconfigPath, env: {} }),
          namespace,
          images: { nodejs: "dispatch/runtime-nodejs:test", python3: "dispatch/runtime-python3:test" },
          controlPlaneUrl: `http://127.0.0.1:${port}`,
          credentials: host.credentials,
          log: (message, error) =>
            console.error(`kubernetes driver: ${message}${error ? `: ${(error as Error).message}` : ""}`),
        });
        await driver.synced;
        return driver;
      },
    },
  });
}

const ms = (v: number) => `${v.toFixed(1)} ms`.padStart(9);
const figures = (s: Summary) => `p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  mean ${ms(s.mean)}`;

const handlerCode = "export default async () => ({ statusCode: 200, body: 'awake' });\n";
const dir = await mkdtemp(join(tmpdir(), "dispatch-bench-k8s-"));
const { thread, kubeconfigPath } = await startFakeClusterThread();
const abort = new AbortController();
let dispatch: TestDispatch | undefined;
try {
  const kubeApi = await connectKube({ kubeconfig: kubeconfigPath, env: {} });
  // Not awaited at the end: a watch's generator does not settle once its signal aborts an open stream.
  for (const resource of ["deployments", "pods", "endpointslices"] as const)
    void follow(kubeApi, resource, abort.signal);
  dispatch = await startControlPlane(kubeconfigPath);

  const api = clients(dispatch.url, dispatch.token);
  const activator = (await api.system.getStatus({})).urls.activator;
  if (!activator)
    throw new Error("the control plane reports no activator URL (SystemService.GetStatus urls.activator)");
  const names = Array.from({ length: functionCount }, (_, i) => `cold-${i}`);
  for (const name of names) {
    await createFunction(api, name, `${name}.js`, handlerCode, { min: 0, idleTimeoutMs: idleMs });
    await writeFile(join(dir, `${name}.js`), handlerCode);
  }
  console.log(
    `k8s cold start: D = ${delayMs} ms (the fake kubelet makes a pod Ready D after ${delayFrom === "start" ? "it began starting it" : "its container runs"}); ` +
      `${wakes} wakes from zero pods over ${functionCount} function(s), idle timeout ${idleMs} ms; ` +
      `load average ${loadavg()[0]?.toFixed(2)} on ${cpus().length} CPUs at the start`,
  );
  for (const name of names) await wake(dispatch, api, activator, dir, name);

  const samples: Measured[] = [];
  const deadline = startedAt + budgetMs;
  for (let i = 0; i < wakes; i++) {
    if (Date.now() > deadline) {
      console.log(
        `  stopped at the time bound (BENCH_BUDGET_S=${budgetMs / 1000}) after ${samples.length} wakes`,
      );
      break;
    }
    samples.push(await wake(dispatch, api, activator, dir, names[i % names.length] as string));
  }
  if (samples.length === 0)
    throw new Error("no wake was measured within the time bound (raise BENCH_BUDGET_S)");

  const of = (part: (w: Measured) => number) => summarize(samples.map(part));
  const podStart = (w: Measured) => w.containerEnd - w.containerStart;
  const cpFirst = (w: Measured) => w.scaled - w.sent;
  const cpLast = (w: Measured) => w.firstByte - w.endpoint;
  const kubelet: [string, string, (w: Measured) => number][] =
    delayFrom === "running"
      ? [
          ["pod start", "bundle fetch + node worker start", podStart],
          ["fake kubelet", "runner done → pod Ready, less D", (w) => w.ready - w.containerEnd - delayMs],
        ]
      : [["fake kubelet", "runner starts → pod Ready, less D", (w) => w.ready - w.containerStart - delayMs]];
  const parts: [string, string, (w: Measured) => number][] = [
    ["control plane", "call → Deployment at 1 replica", cpFirst],
    ["fake cluster", "→ the pod runner starts", (w) => w.containerStart - w.scaled],
    ...kubelet,
    ["fake cluster", "Ready → endpoint ready", (w) => w.endpoint - w.ready],
    ["control plane", "endpoint ready → first byte", cpLast],
  ];
  const a = of((w) => w.firstByte - w.sent - delayMs);
  const b = of((w) => w.ready - w.created - delayMs);
  const own = of((w) => cpFirst(w) + cpLast(w));
  const net = of((w) => cpFirst(w) + cpLast(w) - w.bare.firstAnswer);
  const mark = (s: Summary) => `p99 ≤ ${targetP99Ms} ms ${s.p99 <= targetP99Ms ? "✓" : "✗"}`;
  const share = (s: Summary) => `${((100 * s.mean) / a.mean).toFixed(0)}%`.padStart(4);
  const row = (label: string, s: Summary, after = "") =>
    console.log(`    ${label.padEnd(48)} ${figures(s)} ${share(s)}${after}`);
  console.log(`  time to first byte − D, from zero:             ${format(a)}   ${mark(a)}`);
  console.log(`  baseline, same wakes: pod created → Ready − D: ${format(b)}`);
  console.log(
    `  ratio p50 ${(a.p50 / b.p50).toFixed(2)}x  p95 ${(a.p95 / b.p95).toFixed(2)}x  p99 ${(a.p99 / b.p99).toFixed(2)}x` +
      "   (the baseline is the fake's own pipeline: the pod's start and its Ready, no control plane)",
  );
  console.log(
    "  where (time to first byte − D) goes: each part's percentiles, its mean and share of the mean",
  );
  console.log("  (the parts add up per wake, their percentiles do not):");
  for (const [who, what, part] of parts) row(`${who.padEnd(13)} ${what}`, of(part));
  console.log(
    "  a bare node worker started and called just before each wake (no pod, bundle fetch or control plane):",
  );
  row(
    "start (spawn → ready)",
    of((w) => w.bare.start),
  );
  row(
    "pod start less the bare start (paired per wake)",
    of((w) => podStart(w) - w.bare.start),
  );
  row(
    "first answer (GET /http/ → first byte)",
    of((w) => w.bare.firstAnswer),
  );
  console.log("  the control plane's own share:");
  row("its two parts", own, `   ${mark(own)}`);
  row("less the bare worker's first answer (paired)", net, `   ${mark(net)}`);
  console.log(
    "  counted: the call, sent on a new loopback connection, to its first byte, less D. Not counted: function\n" +
      "  creation, one unmeasured first wake per function, the waits for the scale to zero between wakes.\n" +
      (delayFrom === "running"
        ? "  D starts once the container runs (BENCH_D_FROM=running), so the pod's own start is inside (time to first byte − D).\n"
        : `  D starts when the kubelet begins the pod (BENCH_D_FROM=start): the pod's own start (p50 ${of(podStart).p50.toFixed(0)} ms) is inside D.\n`) +
      "  The fake's controllers do in-memory work; a real cluster's controllers, scheduler and container runtime\n" +
      `  come on top. Load average at the end ${loadavg()[0]?.toFixed(2)}.`,
  );
} finally {
  abort.abort();
  await dispatch?.stop();
  await stopFakeClusterThread(thread);
  await rm(dir, { recursive: true, force: true });
}
