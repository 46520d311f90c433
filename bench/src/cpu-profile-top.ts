/**
 * The hot spots of a V8 CPU profile (`node --cpu-prof`, or a bench's
 * BENCH_PROFILE), with compiled frames mapped back to their TypeScript source
 * through the `.js.map` beside each file:
 *
 * - where the time went, by owner: each workspace package's source, each npm
 *   package, Node's internals, the garbage collector, idle;
 * - functions by self time and by total time (self + callees), `file:line`;
 * - the hottest source lines (V8's position ticks);
 * - with a filter: the functions it selects by the time they spend including
 *   the Node and npm code they call (each sample charged to the innermost
 *   matching frame), which shows whose calls the runtime's time is spent on.
 *
 *   node bench/dist/src/cpu-profile-top.js PROFILE [filter=""] [top=15]
 *
 * `filter` keeps only the functions and lines whose location contains it
 * (e.g. `gateway/src`); the owner table always shows the whole process.
 */
import { existsSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, filter = "", topArg] = process.argv.slice(2);
if (!file) throw new Error("usage: cpu-profile-top.js PROFILE [filter] [top]");
const top = Number(topArg ?? 15);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const maps = new Map<string, SourceMap | undefined>();
function sourceMapOf(path: string): SourceMap | undefined {
  if (!maps.has(path)) {
    const mapPath = `${path}.map`;
    maps.set(
      path,
      existsSync(mapPath) ? new SourceMap(JSON.parse(readFileSync(mapPath, "utf8"))) : undefined,
    );
  }
  return maps.get(path);
}

/** `file:line` (1-based) of a compiled location, in the source when a map says where. */
function locate(url: string, line0: number, column0: number): string {
  if (!url.startsWith("file://")) return `${url || "(native)"}:${line0 + 1}`;
  const path = fileURLToPath(url);
  const entry = sourceMapOf(path)?.findEntry(line0, column0) as
    | { originalSource?: string; originalLine?: number }
    | undefined;
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
    const source = entry.originalSource.startsWith("file://")
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(path), entry.originalSource);
    return `${relative(root, source)}:${entry.originalLine + 1}`;
  }
  return `${relative(root, path)}:${line0 + 1}`;
}

/** Who a frame's time belongs to. */
function ownerOf(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (!url.startsWith("file://")) return "node internals";
  const path = relative(root, fileURLToPath(url));
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg?.[1]) return pkg[1];
  return `${path.split("/")[0] ?? path} (ours)`;
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const allUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

const name = (n: ProfileNode) =>
  `${n.callFrame.functionName || "(anonymous)"} ${locate(n.callFrame.url, n.callFrame.lineNumber, n.callFrame.columnNumber)}`;
const owners = new Map<string, number>();
const self = new Map<string, number>();
const total = new Map<string, number>();
const lines = new Map<string, number>();
/** Time charged to the innermost frame that matches the filter: its own and that of the code it calls. */
const charged = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id);
  if (!node) continue;
  owners.set(ownerOf(node), (owners.get(ownerOf(node)) ?? 0) + us);
  self.set(name(node), (self.get(name(node)) ?? 0) + us);
  const seen = new Set<string>();
  let innermost: string | undefined;
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const at = byId.get(cur);
    if (!at) break;
    const key = name(at);
    if (!seen.has(key)) total.set(key, (total.get(key) ?? 0) + us);
    seen.add(key);
    if (filter && innermost === undefined && key.includes(filter)) innermost = key;
  }
  if (innermost) charged.set(innermost, (charged.get(innermost) ?? 0) + us);
  // Position ticks count samples per line; spread the node's time over them.
  const ticks = node.positionTicks ?? [];
  const count = ticks.reduce((a, t) => a + t.ticks, 0);
  for (const t of ticks) {
    const where = locate(node.callFrame.url, t.line - 1, 0);
    lines.set(where, (lines.get(where) ?? 0) + (us * t.ticks) / count);
  }
}

const show = (title: string, m: Map<string, number>, filtered: boolean) => {
  console.log(title);
  const rows = [...m]
    .filter(([k]) => !filtered || k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
  for (const [k, us] of rows) {
    console.log(
      `  ${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / allUs).toFixed(1).padStart(5)}%  ${k}`,
    );
  }
};

console.log(`${file}: ${(allUs / 1000).toFixed(0)} ms sampled`);
show("by owner (whole process)", owners, false);
show(`functions by self time${filter ? ` (in ${filter})` : ""}`, self, true);
show(`functions by total time${filter ? ` (in ${filter})` : ""}`, total, true);
show(`hottest lines${filter ? ` (in ${filter})` : ""}`, lines, true);
if (filter) {
  show(`functions in ${filter} by the time they spend, with the code they call outside it`, charged, true);
}
