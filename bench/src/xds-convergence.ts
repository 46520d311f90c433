/**
 * Route convergence through the whole of `dispatch up`: the time from
 * `EndpointService.Create` of a new endpoint until its path first answers
 * HTTP 200 through the embedded gateway, with 100, 1,000 and 10,000 other
 * endpoints (one route each) already present.
 *
 * `dispatch up` runs in this process (`startUp`, as cli/test/gateway.test.ts
 * does: a testkit nats-server, free ports, no access log; with the collector
 * settings `dispatch up` starts with, `tuneCollectorForProxying`): control plane,
 * xds-server (fed by its watches, writing endpoint status back) and the
 * gateway (its Delta ADS client), in front of one READY function (created
 * with the CLI, `--min-scale 1 --wait`) that every endpoint routes to.
 * The endpoints are preloaded through the API (Connect, `@dispatch/client`,
 * the admin token), `preloadConcurrency` creates in flight.
 *
 * Each sample creates an endpoint with a path of its own and polls that path
 * with GET (one keep-alive connection, a 2 ms pause between attempts; the 404s
 * before the route lands are expected) until it answers 200; then deletes it
 * and waits until it answers 404 and the controller has written every status,
 * so the count of routes stays as preloaded and no sample's work spills into
 * the next. The baseline, measured in turn with the samples under the same
 * load: the `Create` round trip alone, of a throwaway endpoint (then waited
 * for, deleted and waited for alike, unmeasured). Milestones of each sample
 * show where its time goes: Create answered, the translation that holds the
 * new endpoint (`xds.update`, timed by wrapping it) started and ended, the
 * gateway swapped in its next snapshot, the GET that got the 200 was sent.
 *
 *   npm run build && node bench/dist/src/xds-convergence.js [routes=100,1000,10000] [samples=25] [paths=1]
 *
 * `paths` (1-32) gives each preloaded endpoint that many paths (routes), so
 * 10,000 routes are 10,000 / `paths` endpoints (one path each by default).
 *
 * BENCH_BUDGET_S (default 600) bounds the run: preloading stops in time to
 * leave room for the samples (and says how far it got and how fast), sampling
 * stops at the bound, and a run still going 2 minutes past it exits.
 * BENCH_PROFILE=DIR writes a CPU profile of the sampling at each count there
 * (this process is `dispatch up`; the profiler's cost is then in the figures);
 * `node bench/dist/src/cpu-profile-top.js FILE xds-server/src` lists the hot spots.
 *
 * Target: p99 ≤ 1 s at 10,000 routes.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { Session } from "node:inspector/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startUp, type Up } from "@dispatch/cli/up";
import { createDispatchClients, createDispatchTransport, type DispatchClients } from "@dispatch/client";
import { tuneCollectorForProxying } from "@dispatch/server-kit";
import { startNats } from "@dispatch/testkit";
import { type Summary, summarize } from "./stats.js";

const counts = (process.argv[2] ?? "100,1000,10000")
  .split(",")
  .map(Number)
  .sort((a, b) => a - b);
const samples = Number(process.argv[3] ?? 25);
const pathsPerEndpoint = Number(process.argv[4] ?? 1);
if (
  counts.some((n) => !Number.isInteger(n) || n < 1) ||
  !(samples > 0) ||
  !(Number.isInteger(pathsPerEndpoint) && pathsPerEndpoint >= 1 && pathsPerEndpoint <= 32)
) {
  throw new Error("usage: xds-convergence.js [routes=100,1000,10000] [samples=25] [paths=1 (1-32)]");
}
const budgetMs = Number(process.env.BENCH_BUDGET_S ?? 600) * 1000;
const profileDir = process.env.BENCH_PROFILE;
const targetRoutes = 10_000;
const targetP99Ms = 1000;
/** Creates in flight while preloading. */
const preloadConcurrency = 16;
/** Time kept for the samples at a count: preloading stops this long before the bound. */
const sampleReserveMs = 90_000;
/** How long one route may take to land (or go) before the bench gives up. */
const landBoundMs = 60_000;
/** How long the controller may take to write every status after preloading. */
const settleBoundMs = 180_000;
/** Between two polls of a path: the poll must not starve the server it measures. */
const pollPauseMs = 2;

const startedAt = Date.now();
const deadline = startedAt + budgetMs;
// A run that overruns its bound by far (a hung await) ends here rather than never.
setTimeout(() => {
  console.error(`xds-convergence: still running ${(budgetMs + 120_000) / 1000} s after the start; giving up`);
  process.exit(2);
}, budgetMs + 120_000).unref();

const bin = fileURLToPath(new URL("../../../cli/bin/dispatch.js", import.meta.url));
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const pad = (n: number) => String(n).padStart(5, "0");
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** GET `url` and read the whole answer: its status. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode ?? 0));
    });
    req.once("error", reject);
    req.end();
  });
}

/** What polling a path saw until it answered as wanted. */
interface Polled {
  /** `performance.now()` when the wanted answer arrived. */
  at: number;
  /** `performance.now()` when the request that got it was sent. */
  sent: number;
  /** Answers before it, by status. */
  before: Map<number, number>;
}

/** Polls `url` until it answers `want` (at most {@link landBoundMs}). */
async function until(url: string, want: number): Promise<Polled> {
  const bound = performance.now() + landBoundMs;
  const before = new Map<number, number>();
  for (;;) {
    const sent = performance.now();
    const status = await get(url);
    const at = performance.now();
    if (status === want) return { at, sent, before };
    before.set(status, (before.get(status) ?? 0) + 1);
    if (at > bound) {
      throw new Error(`${url} still answers ${status} (not ${want}) after ${landBoundMs / 1000} s`);
    }
    await pause(pollPauseMs);
  }
}

/** Resolves with `work`, or with false once `ms` passed without it. */
function bounded(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Runs the CLI against this `dispatch up` (its config file) and fails with its output. */
function dispatch(env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      if (error) reject(new Error(`dispatch ${args.join(" ")} failed:\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const dir = await mkdtemp(join(tmpdir(), "dispatch-bench-convergence-"));
const configPath = join(dir, "config.json");
const upLog: string[] = [];
const nats = await startNats();
// As `dispatch up` itself does before it starts serving (decision 0010).
tuneCollectorForProxying();
let up: Up;
try {
  up = await startUp({
    dataDir: join(dir, "data"),
    host: "127.0.0.1",
    port: 0,
    natsUrl: nats.urlWithCredentials,
    // Not started: the bench's own nats-server is given.
    natsServerBin: "nats-server",
    activatorPort: 0,
    gatewayPort: 0,
    gatewayTlsPort: 0,
    xdsPort: 0,
    eventsPort: 0,
    contextName: "local",
    configPath,
    accessLog: false,
    // The largest count, its samples and the baseline's throwaway endpoint, above the default quota of 10,000.
    maxEndpointsPerOrg: Math.max(...counts) + 100,
    log: (line) => upLog.push(line),
  });
} catch (err) {
  console.error(upLog.join("\n"));
  await nats.stop();
  throw err;
}
const gateway = up.ingress.urls.gateway;
const api: DispatchClients = createDispatchClients(
  createDispatchTransport({ server: up.controlPlane.url, token: up.dataDir.adminToken }),
);
const functionName = "converge";

/**
 * Where a sample's time goes, from the same process: when the translation
 * that first holds the new endpoint ran (the controller's call of
 * `xds.update`, wrapped here to take the time: timestamps only), and when the
 * gateway swapped in the next snapshot after it (its `onEvent`). Between
 * samples everything is quiet, so that swap is the one carrying the route.
 */
interface Milestones {
  name: string;
  translateStart?: number;
  translateEnd?: number;
  swapped?: number;
  /** Translations that ran after the one holding the endpoint and before the swap (same event loop). */
  between: number;
}
let following: Milestones | undefined;
/** Duration of every translation (`xds.update`) while samples are taken. */
const translations: number[] = [];
let countTranslations = false;
/** Every translation since the start. */
let translationCount = 0;
const xds = up.ingress.controller.xds;
const translate = xds.update;
xds.update = (snapshot) => {
  const start = performance.now();
  const result = translate(snapshot);
  const end = performance.now();
  translationCount++;
  if (countTranslations) translations.push(end - start);
  const f = following;
  if (f && f.translateEnd === undefined && snapshot.endpoints.some((e) => e.meta?.name === f.name)) {
    f.translateStart = start;
    f.translateEnd = end;
  } else if (f?.translateEnd !== undefined && f.swapped === undefined) {
    f.between++;
  }
  return result;
};
up.ingress.gateway?.onEvent((event) => {
  const f = following;
  if (event.kind === "snapshot" && f?.translateEnd !== undefined && f.swapped === undefined) {
    f.swapped = performance.now();
  }
});

/** An endpoint of the default org: `paths`, any method, the bench's function. */
function createEndpoint(name: string, paths: string[]) {
  return api.endpoints.create({
    endpoint: { meta: { name, org: "default" }, spec: { function: functionName, paths } },
  });
}

/** Starts the CPU profiler (with BENCH_PROFILE) and returns what stops it and writes `name`.cpuprofile. */
async function profile(): Promise<(name: string) => Promise<void>> {
  if (!profileDir) return async () => {};
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async (name) => {
    const { profile } = await session.post("Profiler.stop");
    await mkdir(profileDir, { recursive: true });
    await writeFile(join(profileDir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

/** Until the controller has no translation or status write pending and this process is quiet. */
async function settle(boundMs: number): Promise<boolean> {
  const bound = performance.now() + boundMs;
  for (;;) {
    const left = bound - performance.now();
    if (left <= 0 || !(await bounded(up.ingress.controller.idle(), left))) return false;
    // A status written just now comes back through the watch as a change: quiet means none did.
    const cpu = process.cpuUsage();
    const wall = performance.now();
    await pause(250);
    const used = process.cpuUsage(cpu);
    const usedMs = (used.user + used.system) / 1000;
    if (usedMs < 0.1 * (performance.now() - wall)) return true;
  }
}

/** The paths of preloaded endpoint `i`: /r/NNNNN, or /r/NNNNN/0 … with more than one path each. */
function preloadedPaths(i: number): string[] {
  if (pathsPerEndpoint === 1) return [`/r/${pad(i)}`];
  return Array.from({ length: pathsPerEndpoint }, (_, j) => `/r/${pad(i)}/${j}`);
}

/** Creates endpoints `from`…`to - 1` ({@link preloadedPaths}), until `stopAt` (epoch ms) at the latest. */
async function preload(
  from: number,
  to: number,
  stopAt: number,
): Promise<{ reached: number; ms: number; lastRate: number }> {
  let next = from;
  let done = from;
  const started = performance.now();
  const step = Math.max(50, Math.min(250, Math.ceil((to - from) / 10)));
  let mark = { done: from, at: started };
  let lastRate = 0;
  await Promise.all(
    Array.from({ length: preloadConcurrency }, async () => {
      while (next < to && Date.now() < stopAt) {
        const i = next++;
        await createEndpoint(`r-${pad(i)}`, preloadedPaths(i));
        done++;
        if (done % step === 0 || done === to) {
          const now = performance.now();
          lastRate = ((done - mark.done) * 1000) / (now - mark.at);
          mark = { done, at: now };
          console.error(
            `  preloading: ${done}/${to} endpoints, ${seconds(now - started)}, last ${lastRate.toFixed(0)}/s`,
          );
        }
      }
    }),
  );
  const ms = performance.now() - started;
  if (lastRate === 0) lastRate = ((done - from) * 1000) / ms;
  return { reached: done, ms, lastRate };
}

/** One sample of each kind at `routes`. */
interface Sample {
  /** Create sent → first 200 on its path. */
  convergeMs: number;
  /** Create sent → the GET that got the 200 was sent (the route was in place by then). */
  landedMs: number;
  /** Create sent → the translation that holds the endpoint started, ended; → the gateway swapped it in. */
  translateStartMs: number;
  translateEndMs: number;
  swappedMs: number;
  /** Translations between the one holding the endpoint and the swap. */
  between: number;
  /** Of which the Create round trip. */
  createMs: number;
  /** Polls answered before the 200, by status. */
  before: Map<number, number>;
}

/** Creates endpoint `name` at `path`, measures until it serves, then removes it and lets everything settle. */
async function sample(name: string, path: string): Promise<Sample> {
  const milestones: Milestones = { name, between: 0 };
  following = milestones;
  const t0 = performance.now();
  await createEndpoint(name, [path]);
  const created = performance.now();
  const served = await until(`${gateway}${path}`, 200);
  following = undefined;
  await api.endpoints.delete({ org: "default", name });
  await until(`${gateway}${path}`, 404);
  await settle(landBoundMs);
  return {
    convergeMs: served.at - t0,
    landedMs: served.sent - t0,
    translateStartMs: (milestones.translateStart ?? Number.NaN) - t0,
    translateEndMs: (milestones.translateEnd ?? Number.NaN) - t0,
    swappedMs: (milestones.swapped ?? Number.NaN) - t0,
    between: milestones.between,
    createMs: created - t0,
    before: served.before,
  };
}

interface Measured {
  routes: number;
  converge: Summary;
  landed: Summary;
  translateStart: Summary;
  translateEnd: Summary;
  swapped: Summary;
  /** The translation holding the endpoint, alone. */
  holding: Summary;
  /** Mean translations between it and the swap. */
  between: number;
  /** Every translation while sampling, and how many there were per sample. */
  translation: Summary;
  translationsPerSample: number;
  createPart: Summary;
  /** One call of a route in place (a preloaded one). */
  call: Summary;
  baseline: Summary;
  polls: Map<number, number>;
  pollsPerSample: Summary;
  /** Samples cut short by the bound. */
  cut: boolean;
}

async function measure(routes: number): Promise<Measured> {
  const converge: Sample[] = [];
  const baseline: Sample[] = [];
  const calls: number[] = [];
  const inPlace = `${gateway}${preloadedPaths(0)[0]}`;
  const profiled = await profile();
  translations.length = 0;
  countTranslations = true;
  let cut = false;
  for (let i = 0; i < samples; i++) {
    if (Date.now() > deadline) {
      cut = true;
      break;
    }
    // Turns: which kind goes first alternates, so a drifting machine weighs on both alike.
    const measured = () => sample(`c-${routes}-${i}`, `/c/${routes}/${i}`);
    const throwaway = () => sample(`b-${routes}-${i}`, `/b/${routes}/${i}`);
    if (i % 2 === 0) {
      converge.push(await measured());
      baseline.push(await throwaway());
    } else {
      baseline.push(await throwaway());
      converge.push(await measured());
    }
    for (let j = 0; j < 3; j++) {
      const t0 = performance.now();
      const status = await get(inPlace);
      if (status !== 200) throw new Error(`${inPlace} answers ${status}, not 200`);
      calls.push(performance.now() - t0);
    }
  }
  countTranslations = false;
  await profiled(`xds-convergence-${routes}-samples`);
  const polls = new Map<number, number>();
  for (const s of converge)
    for (const [status, n] of s.before) polls.set(status, (polls.get(status) ?? 0) + n);
  return {
    routes,
    converge: summarize(converge.map((s) => s.convergeMs)),
    landed: summarize(converge.map((s) => s.landedMs)),
    translateStart: summarize(converge.map((s) => s.translateStartMs)),
    translateEnd: summarize(converge.map((s) => s.translateEndMs)),
    swapped: summarize(converge.map((s) => s.swappedMs)),
    holding: summarize(converge.map((s) => s.translateEndMs - s.translateStartMs)),
    between: converge.reduce((sum, s) => sum + s.between, 0) / Math.max(1, converge.length),
    translation: summarize(translations),
    translationsPerSample: translations.length / Math.max(1, converge.length + baseline.length),
    call: summarize(calls),
    createPart: summarize(converge.map((s) => s.createMs)),
    baseline: summarize(baseline.map((s) => s.createMs)),
    polls,
    pollsPerSample: summarize(converge.map((s) => [...s.before.values()].reduce((a, b) => a + b, 0))),
    cut,
  };
}

const ms = (v: number) => `${v.toFixed(0)} ms`;
const row = (s: Summary) => `p50 ${ms(s.p50)}  p95 ${ms(s.p95)}  p99 ${ms(s.p99)}  (n=${s.n})`;

const results: Measured[] = [];
try {
  const env = { ...process.env, DISPATCH_CONFIG: configPath, HOME: dir };
  const code = join(dir, `${functionName}.js`);
  await writeFile(code, "export default async () => ({ ok: true });\n");
  await dispatch(env, "create", "function", functionName, code, "--min-scale", "1", "--wait");
  // Unmeasured: the first route, the first calls (JIT, connections, the worker's first requests).
  for (let i = 0; i < 3; i++) await sample(`warm-${i}`, `/warm/${i}`);

  console.log(
    `route convergence through dispatch up (in-process: control plane + xds-server + embedded gateway; nats-server and the function's worker apart; loopback; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")})`,
  );
  console.log(
    `  create (EndpointService.Create over Connect, admin token) → first HTTP 200 on the new path; ${samples} samples per count; poll: GET, one keep-alive connection, ${pollPauseMs} ms between attempts`,
  );
  console.log(
    "  baseline, in turn with the samples: the Create round trip alone, of a throwaway endpoint (then deleted)",
  );
  /** Endpoints preloaded so far (each with `pathsPerEndpoint` routes). */
  let present = 0;
  for (const routes of counts) {
    const from = present;
    const wanted = Math.ceil(routes / pathsPerEndpoint);
    const profiled = await profile();
    const loaded = await preload(from, wanted, deadline - sampleReserveMs);
    await profiled(`xds-convergence-${routes}-preload`);
    present = loaded.reached;
    const perSecond = ((present - from) * 1000) / loaded.ms;
    const preloaded = `preloaded ${present - from} endpoints through the API in ${seconds(loaded.ms)}, ${perSecond.toFixed(1)}/s, ${preloadConcurrency} in flight`;
    if (present < wanted) {
      const left = wanted - present;
      // A Create's cost grows with the endpoints present (it lists them all):
      // at n of them one takes n / (present · rate) s, so the rest take the integral of that.
      const projectedMs = ((wanted ** 2 - present ** 2) / (2 * present * loaded.lastRate)) * 1000;
      console.log(
        `  ${routes} routes NOT REACHED: preloading stopped at ${present} endpoints (${preloaded}; ${loaded.lastRate.toFixed(1)}/s at the end) to keep ${seconds(sampleReserveMs)} of the ${seconds(budgetMs)} bound for the samples; the other ${left} would take ≥ ${seconds((left * 1000) / loaded.lastRate)} more at that rate, ~${seconds(projectedMs)} if each Create's cost keeps growing with the endpoints present. Measured at what is present instead:`,
      );
    }
    const settleStarted = performance.now();
    const translatedBefore = translationCount;
    // The gateway has every route (the last one created serves) and every status is written.
    await until(`${gateway}${preloadedPaths(present - 1).at(-1)}`, 200);
    const settled = await settle(settleBoundMs);
    const settleMs = performance.now() - settleStarted;
    const shape = pathsPerEndpoint === 1 ? "" : ` = ${present} endpoints × ${pathsPerEndpoint} paths`;
    console.log(
      `  ${present * pathsPerEndpoint} routes${shape} (${preloaded}; statuses written and quiet ${settled ? "after" : "NOT within"} ${seconds(settleMs)}, ${translationCount - translatedBefore} translations meanwhile)`,
    );
    const m = await measure(present * pathsPerEndpoint);
    results.push(m);
    const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
    console.log(
      `    create → first 200:       ${row(m.converge)}${m.cut ? "  (cut short by the bound)" : ""}`,
    );
    console.log("      milestones from Create sent:");
    console.log(`        Create answered:      ${row(m.createPart)}`);
    console.log(`        translation started:  ${row(m.translateStart)}  (the first xds.update holding it)`);
    console.log(`        translation ended:    ${row(m.translateEnd)}`);
    console.log(
      `        gateway swapped:      ${row(m.swapped)}  (its next snapshot after that; ${m.between.toFixed(1)} other translations ran in between, on average)`,
    );
    console.log(`        GET that got 200 sent: ${row(m.landed)}`);
    console.log(`    the translation holding it: ${row(m.holding)}`);
    console.log(
      `    each translation (xds.update, ${m.routes} routes): ${row(m.translation)}; ${m.translationsPerSample.toFixed(1)} per sample (create, status writes, delete)`,
    );
    console.log(`    one call of a route in place: ${row(m.call)}`);
    console.log(`    baseline, Create alone:   ${row(m.baseline)}`);
    console.log(
      `    ratio to the baseline:    p50 ${ratio(m.converge.p50, m.baseline.p50)}  p99 ${ratio(m.converge.p99, m.baseline.p99)}`,
    );
    console.log(
      `    polls before the 200:     median ${m.pollsPerSample.p50} per sample; by status: ${
        [...m.polls]
          .sort(([a], [b]) => a - b)
          .map(([status, n]) => `${status} ×${n}`)
          .join(", ") || "none"
      }`,
    );
    if (present < wanted || Date.now() > deadline) {
      const skipped = counts.filter((n) => n > routes);
      if (skipped.length > 0)
        console.log(`  not measured (the bound was reached): ${skipped.join(", ")} routes`);
      break;
    }
  }
  const at = results.find((r) => r.routes >= targetRoutes);
  console.log(
    at
      ? `  target: p99 ≤ ${ms(targetP99Ms)} at ${targetRoutes} routes${pathsPerEndpoint === 1 ? "" : ` (${pathsPerEndpoint} paths per endpoint)`}: ${ms(at.converge.p99)} ${at.converge.p99 <= targetP99Ms ? "met" : "MISSED"}`
      : `  target: p99 ≤ ${ms(targetP99Ms)} at ${targetRoutes} routes: not measured in this run`,
  );
  console.log(`  run took ${seconds(Date.now() - startedAt)} (bound ${seconds(budgetMs)})`);
} catch (err) {
  console.error(upLog.slice(-50).join("\n"));
  throw err;
} finally {
  agent.destroy();
  await up.stop();
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
