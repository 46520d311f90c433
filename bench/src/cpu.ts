import { readdirSync, readFileSync } from "node:fs";

/** CPU time (user + system, ms) of this process and each of its descendants, by name. */
export type CpuSample = Map<string, number>;

const tick = 10; // ms per clock tick (USER_HZ is 100 on Linux)

function stat(pid: string): { ppid: string; name: string; ms: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const fields = text.slice(close + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    return { ppid: fields[1] ?? "", name: label(cmdline), ms: (utime + stime) * tick };
  } catch {
    return undefined;
  }
}

function label(cmdline: string[]): string {
  const args = cmdline.join(" ");
  if (args.includes("nats-server")) return "nats-server";
  if (/worker(\.js|\.py)/.test(args)) return "worker";
  if (args.includes(" up ")) return "control plane";
  // A bench's own helper process: its script's name, or the mode it was started in.
  const helper = /dist\/src\/([\w-]+)\.js(?: ([\w-]+))?/.exec(args);
  if (helper?.[1]) return helper[1] === "proxy-process" && helper[2] ? helper[2] : helper[1];
  return cmdline[0]?.split("/").pop() ?? "?";
}

/** Samples the CPU time of this process ("client") and every process below it. */
export function sampleCpu(): CpuSample {
  const all = new Map<string, { ppid: string; name: string; ms: number }>();
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    const s = stat(pid);
    if (s) all.set(pid, s);
  }
  const sample: CpuSample = new Map();
  const self = String(process.pid);
  const visit = (pid: string, name: string) => {
    const s = all.get(pid);
    if (!s) return;
    sample.set(name, (sample.get(name) ?? 0) + s.ms);
    for (const [child, c] of all) if (c.ppid === pid) visit(child, c.name);
  };
  visit(self, "client");
  return sample;
}

/** "client 41 µs · control plane 210 µs · …" — CPU per call between two samples. */
export function cpuPerCall(before: CpuSample, after: CpuSample, calls: number): string {
  return [...after]
    .map(([name, ms]) => [name, ms - (before.get(name) ?? 0)] as const)
    .filter(([, ms]) => ms > 0)
    .map(([name, ms]) => `${name} ${((ms * 1000) / calls).toFixed(0)} µs`)
    .join(" · ");
}
