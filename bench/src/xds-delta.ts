/**
 * xDS with a large configuration: what one change costs on the wire and in the
 * server's CPU, Delta beside SotW, and one proxy beside a hundred.
 *
 * The xds-server (`startXdsServer`) runs in this process with an ingress of
 * `routes` endpoints (one path each) spread over `functions` READY functions
 * with one instance address each. The proxies are raw ADS streams in a child
 * process (`xds-delta-clients.ts`, a connection each, subscribing as Envoy
 * does and ACKing every response), so that `process.cpuUsage()` here is the
 * server's alone. Each change is measured from just before `update()` until
 * the server has handled every client's ACK of every type the change touched.
 *
 * Changes, each made `changes` times:
 * - path changed: one endpoint's path is replaced;
 * - endpoint added: a new endpoint (new path) for an existing function;
 * - instance moved: one function's instance address changes (EDS only; shown
 *   for contrast: the one change where Delta and SotW differ in size).
 *
 * Phases: 1 Delta client; 1 SotW client; `fanout` Delta clients. Baselines in
 * the same run: SotW for the bytes, 1 client for the fan-out CPU. Then the
 * parts of `update()` measured alone as it does them, reusing what the last
 * translation made (translate, encode + hash, PGV check), and a translation
 * from scratch beside them.
 *
 *   npm run build && node bench/dist/src/xds-delta.js [routes=10000] [functions=1000] [changes=2] [fanout=100]
 *
 * BENCH_PROFILE=DIR writes a CPU profile of each measured change with 1 and
 * with `fanout` Delta clients there (the profiler's cost is then in the
 * figures; `node --cpu-prof` covers the whole run instead);
 * `node bench/dist/src/cpu-profile-top.js FILE xds-server/src` lists the hot spots.
 *
 * Targets: Delta ≤ 8 KiB and ≤ 5 ms of server CPU per change; `fanout`
 * clients ≤ 2× the CPU of one.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import {
  type Endpoint,
  EndpointSchema,
  type Function as FunctionResource,
  FunctionSchema,
  Phase,
} from "@dispatch/proto";
import { ROUTE_TYPE_URL } from "@dispatch/proto/envoy";
import {
  type AckEvent,
  createResourceMemo,
  type IngressSnapshot,
  resolveTranslateOptions,
  startXdsServer,
  type TranslateOptions,
  TranslationMemo,
  translateIngress,
} from "@dispatch/xds-server";
import type { ClientsMessage, ReceivedResponse } from "./xds-delta-clients.js";

const routes = Number(process.argv[2] ?? 10_000);
const functionCount = Number(process.argv[3] ?? 1000);
const changes = Number(process.argv[4] ?? 2);
const fanout = Number(process.argv[5] ?? 100);
/** How long a change may take to reach every client before the bench gives up. */
const changeBoundMs = 180_000;

const translation: TranslateOptions = { activator: { host: "10.0.0.100", port: 8081 } };
const pad = (n: number, width: number) => String(n).padStart(width, "0");
const fnName = (i: number) => `fn-${pad(i, 4)}`;
const instance = (i: number, move = 0) =>
  `http://10.${(i >> 8) & 255}.${i & 255}.${1 + (move % 250)}:${8000 + (move % 1000)}`;

function endpoint(name: string, fn: string, path: string): Endpoint {
  return create(EndpointSchema, {
    meta: { name, org: "default" },
    spec: { function: fn, paths: [path] },
  });
}

function readyFunction(i: number, move = 0): FunctionResource {
  const address = instance(i, move);
  return create(FunctionSchema, {
    meta: { name: fnName(i), org: "default" },
    spec: { runtime: "nodejs" },
    status: { phase: Phase.READY, endpoints: [address], readyInstances: 1 },
  });
}

// The ingress: the watch caches' arrays, replaced element by element as a change comes.
const endpoints: Endpoint[] = Array.from({ length: routes }, (_, i) =>
  endpoint(`ep-${pad(i, 5)}`, fnName(i % functionCount), `/${fnName(i % functionCount)}/r${pad(i, 5)}`),
);
const functions: FunctionResource[] = Array.from({ length: functionCount }, (_, i) => readyFunction(i));
const snapshot = (): IngressSnapshot => ({ endpoints, functions, tokens: () => undefined });

type ChangeKind = "path changed" | "endpoint added" | "instance moved";
const kinds: ChangeKind[] = ["path changed", "endpoint added", "instance moved"];
let made = 0;
/** Makes one change of `kind` to the ingress (outside any measurement). */
function change(kind: ChangeKind): void {
  made++;
  if (kind === "path changed") {
    const i = (made * 7919) % routes;
    const old = endpoints[i] as Endpoint;
    endpoints[i] = endpoint(old.meta?.name ?? "", old.spec?.function ?? "", `/changed/c${made}`);
  } else if (kind === "endpoint added") {
    endpoints.push(endpoint(`added-${made}`, fnName(made % functionCount), `/added/a${made}`));
  } else {
    const i = (made * 7919) % functionCount;
    functions[i] = readyFunction(i, made);
  }
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

// --- the server and its ACKs ---------------------------------------------------

let onAck: (event: AckEvent) => void = () => {};
const xds = await startXdsServer({ translation, onAck: (e) => onAck(e) });

/** Proxies in a child process. */
interface Proxies {
  process: ChildProcess;
  nodes: string[];
  flush(): Promise<ReceivedResponse[]>;
  close(): Promise<void>;
}

const clientsScript = fileURLToPath(new URL("./xds-delta-clients.js", import.meta.url));

async function startProxies(protocol: "delta" | "sotw", count: number): Promise<Proxies> {
  const child = fork(clientsScript, [xds.address, protocol, String(count)], { stdio: "inherit" });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`the clients' process exited (${code})`))),
  );
  exited.catch(() => {});
  const next = (kind: ClientsMessage["kind"]) =>
    Promise.race([
      exited,
      new Promise<ClientsMessage>((resolve) => {
        const on = (m: ClientsMessage) => {
          if (m.kind !== kind) return;
          child.off("message", on);
          resolve(m);
        };
        child.on("message", on);
      }),
    ]);
  await next("warm");
  return {
    process: child,
    nodes: Array.from({ length: count }, (_, i) => `bench-${protocol}-${i}`),
    async flush() {
      const reply = next("responses");
      child.send({ kind: "flush" });
      const m = await reply;
      return m.kind === "responses" ? m.responses : [];
    },
    async close() {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      await gone;
    },
  };
}

/** One change as measured. */
interface Measured {
  /** CPU of `update()` itself (translate, check, encode, cache, and the sessions' synchronous sends). */
  updateMs: number;
  /** CPU from `update()` until every ACK was handled. */
  totalMs: number;
  wallMs: number;
  /** Bytes of the responses the change sent, per client (the first client's). */
  bytes: number;
  responses: ReceivedResponse[];
}

/** Applies one change and measures it until every proxy has ACKed every type it touched. */
async function measure(kind: ChangeKind, proxies: Proxies, profile?: Session): Promise<Measured> {
  change(kind);
  await proxies.flush();
  const pending = new Map<string, Set<string>>();
  let done: () => void = () => {};
  const allAcked = new Promise<void>((resolve) => {
    done = resolve;
  });
  const acks: AckEvent[] = [];
  onAck = (event) => acks.push(event);
  await profile?.post("Profiler.start");
  const wall = performance.now();
  const before = process.cpuUsage();
  const { changed } = xds.update(snapshot());
  const updateMs = cpuMs(before);
  const types = [...changed.keys()];
  for (const node of proxies.nodes) pending.set(node, new Set(types));
  const settle = (event: AckEvent) => {
    const left = pending.get(event.node.id);
    left?.delete(event.typeUrl);
    if (left?.size === 0) pending.delete(event.node.id);
    if (pending.size === 0) done();
  };
  for (const event of acks.splice(0)) settle(event);
  onAck = settle;
  if (types.length === 0) done();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    allAcked,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${kind}: not every client ACKed within ${changeBoundMs / 1000} s`)),
        changeBoundMs,
      );
    }),
  ]);
  clearTimeout(timer);
  const totalMs = cpuMs(before);
  const wallMs = performance.now() - wall;
  onAck = () => {};
  const responses = await proxies.flush();
  const first = proxies.nodes[0];
  const bytes = responses.filter((r) => r.node === first).reduce((sum, r) => sum + r.bytes, 0);
  return { updateMs, totalMs, wallMs, bytes, responses: responses.filter((r) => r.node === first) };
}

async function phase(
  protocol: "delta" | "sotw",
  count: number,
  profileDir?: string,
): Promise<{ warmBytes: number; results: Map<ChangeKind, Measured[]> }> {
  const proxies = await startProxies(protocol, count);
  const initial = await proxies.flush();
  const warmBytes = initial.filter((r) => r.node === proxies.nodes[0]).reduce((s, r) => s + r.bytes, 0);
  const results = new Map<ChangeKind, Measured[]>();
  try {
    // One unmeasured change first (JIT, the sessions' first responses).
    await measure("path changed", proxies);
    for (let i = 0; i < changes; i++) {
      for (const kind of kinds) {
        let session: Session | undefined;
        if (profileDir) {
          session = new Session();
          session.connect();
          await session.post("Profiler.enable");
        }
        const m = await measure(kind, proxies, session);
        if (session && profileDir) {
          const { profile } = await session.post("Profiler.stop");
          await mkdir(profileDir, { recursive: true });
          await writeFile(
            join(profileDir, `xds-delta-${protocol}-${count}-${kind.replace(" ", "-")}-${i}.cpuprofile`),
            JSON.stringify(profile),
          );
          session.disconnect();
        }
        const list = results.get(kind) ?? [];
        list.push(m);
        results.set(kind, list);
      }
    }
  } finally {
    await proxies.close();
  }
  return { warmBytes, results };
}

// --- reporting ----------------------------------------------------------------

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const size = (bytes: number) =>
  bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(2)} MiB`
    : bytes >= 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${bytes} B`;
const ms = (v: number) => `${v.toFixed(1)} ms`;
const spread = (values: number[]) =>
  `${ms(mean(values))} (${ms(Math.min(...values))}–${ms(Math.max(...values))})`;
const describe = (responses: ReceivedResponse[]) =>
  responses
    .map((r) => `${r.typeUrl.split(".").pop()} ×${r.resources}${r.removed ? ` -${r.removed}` : ""}`)
    .join(", ");

// --- the run ------------------------------------------------------------------

try {
  const startCpu = process.cpuUsage();
  const first = xds.update(snapshot());
  const firstMs = cpuMs(startCpu);
  if (first.problems.length > 0) {
    throw new Error(
      `the ingress has problems: ${first.problems[0]?.message} (+${first.problems.length - 1})`,
    );
  }
  const routeConfig = xds.cache.resource(
    ROUTE_TYPE_URL,
    first.translation.envoy.routeConfigurations[0]?.name ?? "",
  );
  console.log(
    `xDS, one change at a time: ${routes} routes (${endpoints.length} endpoints over ${functionCount} READY functions, one instance each); ${changes} changes of each kind`,
  );
  console.log(
    `  config: RouteConfiguration ${size(routeConfig?.bytes.length ?? 0)}, ${first.translation.envoy.clusters.length} clusters, ${first.translation.envoy.clusterLoadAssignments.length} load assignments; first update() ${ms(firstMs)} CPU`,
  );

  // Changes with no client first (up to 12, or 5 s of CPU), so that the first phase does not
  // pay alone for the JIT's work.
  const warmCpu = process.cpuUsage();
  for (let i = 0; i < 12 && cpuMs(warmCpu) < 5000; i++) {
    change(kinds[i % kinds.length] as ChangeKind);
    xds.update(snapshot());
  }
  const delta = await phase("delta", 1, process.env.BENCH_PROFILE);
  const sotw = await phase("sotw", 1);
  const many = await phase("delta", fanout, process.env.BENCH_PROFILE);

  console.log(`  full state to one client: Delta ${size(delta.warmBytes)}, SotW ${size(sotw.warmBytes)}`);
  console.log("  (a) bytes to one client per change (DiscoveryResponse messages, mean)");
  console.log(`      ${"".padEnd(18)}${"Delta".padEnd(14)}${"SotW".padEnd(14)}Delta/SotW   what Delta sent`);
  const deltaBytes = new Map<ChangeKind, number>();
  for (const kind of kinds) {
    const d = delta.results.get(kind) ?? [];
    const s = sotw.results.get(kind) ?? [];
    const db = mean(d.map((m) => m.bytes));
    const sb = mean(s.map((m) => m.bytes));
    deltaBytes.set(kind, db);
    console.log(
      `      ${kind.padEnd(18)}${size(db).padEnd(14)}${size(sb).padEnd(14)}${(db / sb).toFixed(3).padEnd(13)}${describe(d[0]?.responses ?? [])}`,
    );
  }

  console.log("  (b) server CPU per change, one client: update() + push until the ACKs (mean, min–max)");
  const deltaCpu = new Map<ChangeKind, number>();
  for (const kind of kinds) {
    const d = delta.results.get(kind) ?? [];
    const s = sotw.results.get(kind) ?? [];
    deltaCpu.set(kind, mean(d.map((m) => m.totalMs)));
    console.log(`      ${kind}`);
    console.log(
      `        Delta ${spread(d.map((m) => m.totalMs))}  of which update() ${ms(mean(d.map((m) => m.updateMs)))}; wall ${ms(mean(d.map((m) => m.wallMs)))}`,
    );
    console.log(
      `        SotW  ${spread(s.map((m) => m.totalMs))}  of which update() ${ms(mean(s.map((m) => m.updateMs)))}; wall ${ms(mean(s.map((m) => m.wallMs)))}`,
    );
  }

  // The parts of update() alone, on the current ingress after one more path change, done as
  // update() does them: with what the last translation made (warm memos) to reuse.
  const resolved = resolveTranslateOptions(translation);
  const memo = new TranslationMemo();
  const resourceMemo = createResourceMemo();
  const warm = translateIngress(snapshot(), resolved, resourceMemo.check, memo);
  resourceMemo.keepOnly(warm.resources);
  const parts = { translate: [] as number[], "PGV check": [] as number[], "encode + hash": [] as number[] };
  const scratch: number[] = [];
  for (let i = 0; i < changes; i++) {
    change("path changed");
    let t = process.cpuUsage();
    const result = translateIngress(snapshot(), resolved, () => [], memo);
    parts.translate.push(cpuMs(t));
    t = process.cpuUsage();
    for (const r of result.resources) resourceMemo.encoded(r);
    parts["encode + hash"].push(cpuMs(t));
    t = process.cpuUsage();
    for (const r of result.resources) resourceMemo.check(r);
    parts["PGV check"].push(cpuMs(t));
    resourceMemo.keepOnly(result.resources);
    t = process.cpuUsage();
    translateIngress(snapshot(), resolved, () => []);
    scratch.push(cpuMs(t));
  }
  console.log("      where a path change's update() goes, each part measured alone (mean):");
  console.log(
    `        translate (snapshot → IR → Envoy messages, ${endpoints.length} endpoints, reusing the unchanged ones): ${ms(mean(parts.translate))}; from scratch ${ms(mean(scratch))}`,
  );
  console.log(
    `        encode + sha256 (changed routes encoded, the configuration assembled from the rest and hashed; new clusters encoded): ${ms(mean(parts["encode + hash"]))}`,
  );
  console.log(
    `        PGV check (changed routes and resources; the others' verdicts are kept): ${ms(mean(parts["PGV check"]))}`,
  );
  const pathUpdate = mean((delta.results.get("path changed") ?? []).map((m) => m.updateMs));
  const [largest, largestMs] = Object.entries(parts)
    .map(([part, values]) => [part, mean(values)] as const)
    .sort((a, b) => b[1] - a[1])[0] ?? ["?", Number.NaN];
  console.log(
    `        the largest part: ${largest}, ${((100 * largestMs) / pathUpdate).toFixed(0)}% of a path change's update() with one client`,
  );
  // How translation grows: the same ingress cut to a tenth, translated the same way.
  const tenth = Math.max(1, Math.floor(routes / 10));
  const small: IngressSnapshot = {
    endpoints: endpoints.slice(0, tenth),
    functions: functions.slice(0, Math.max(1, Math.floor(functionCount / 10))),
    tokens: () => undefined,
  };
  const smallMs: number[] = [];
  for (let i = 0; i < changes; i++) {
    const t = process.cpuUsage();
    translateIngress(small, resolved, () => []);
    smallMs.push(cpuMs(t));
  }
  console.log(
    `        translate from scratch of a tenth (${tenth} endpoints): ${ms(mean(smallMs))}; ten times the endpoints cost ${(mean(scratch) / mean(smallMs)).toFixed(1)}x the time`,
  );

  console.log(`  (c) server CPU per change, 1 Delta client vs ${fanout} (mean)`);
  const fanoutRatio = new Map<ChangeKind, number>();
  for (const kind of kinds) {
    const ones = delta.results.get(kind) ?? [];
    const ns = many.results.get(kind) ?? [];
    const one = mean(ones.map((m) => m.totalMs));
    const n = mean(ns.map((m) => m.totalMs));
    fanoutRatio.set(kind, n / one);
    console.log(
      `      ${kind.padEnd(18)}1: ${ms(one)} (update() ${ms(mean(ones.map((m) => m.updateMs)))})   ${fanout}: ${ms(n)} (update() ${ms(mean(ns.map((m) => m.updateMs)))})   ratio ${(n / one).toFixed(2)}x`,
    );
    console.log(
      `      ${"".padEnd(18)}each client beyond the first: ${ms((n - one) / (fanout - 1))}; ${fanout} clients: wall ${ms(mean(ns.map((m) => m.wallMs)))}, ${size(mean(ns.map((m) => m.bytes)) * fanout)} sent`,
    );
  }

  console.log("  targets:");
  for (const kind of ["path changed", "endpoint added"] as const) {
    const b = deltaBytes.get(kind) ?? Number.NaN;
    const c = deltaCpu.get(kind) ?? Number.NaN;
    const r = fanoutRatio.get(kind) ?? Number.NaN;
    console.log(`    ${kind}: Delta ≤ 8 KiB per change: ${size(b)} ${b <= 8192 ? "met" : "MISSED"}`);
    console.log(`    ${kind}: Delta ≤ 5 ms server CPU per change: ${ms(c)} ${c <= 5 ? "met" : "MISSED"}`);
    console.log(
      `    ${kind}: ${fanout} Delta clients ≤ 2x the CPU of 1: ${r.toFixed(2)}x ${r <= 2 ? "met" : "MISSED"}`,
    );
  }
} finally {
  await xds.close();
}
