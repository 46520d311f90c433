import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Limits of one instance's cgroup. */
export interface CgroupLimits {
  memoryBytes: number;
  /** Tasks (processes and threads) at most. */
  maxProcesses: number;
}

/** The cgroup of one instance: everything the worker starts stays in it. */
export interface InstanceCgroup {
  /** The `cgroup.procs` files a process writes its pid into to join (one per hierarchy). */
  readonly procsFiles: readonly string[];
  /** Whether the kernel's OOM killer killed a process of this cgroup. */
  outOfMemory(): Promise<boolean>;
  /** SIGKILLs every process in it, until none is left. */
  killAll(): Promise<void>;
  /** Kills what is left and removes the cgroup. */
  remove(): Promise<void>;
}

/** The cgroups of one driver: a directory of its own under the control plane's cgroup. */
export interface Cgroups {
  /** "cgroup v1" or "cgroup v2", for status. */
  readonly version: "cgroup v1" | "cgroup v2";
  /** Whether process counts are limited too (the pids controller). */
  readonly limitsProcesses: boolean;
  /** A cgroup for one instance, with these limits. */
  create(limits: CgroupLimits): Promise<InstanceCgroup>;
  /** Removes the driver's directory (after every instance cgroup is removed). */
  close(): Promise<void>;
}

/** Why no cgroups can be used, in plain words. */
export interface CgroupsUnavailable {
  unavailable: string;
}

/** A mounted cgroup hierarchy and where this process sits in it. */
interface Hierarchy {
  /** "memory", "pids", or "unified" (v2). */
  kind: "memory" | "pids" | "unified";
  /** This process's cgroup directory in the hierarchy. */
  own: string;
}

/**
 * Finds a cgroup hierarchy this process may create child cgroups in (v1 with
 * the memory controller, and pids when it can; or v2 with both enabled for
 * children), and makes a directory of its own there: `dispatch-<pid>-<random>`
 * beside the control plane's own cgroup. Directories left by a control plane
 * that died are removed first.
 */
export async function openCgroups(root = "/"): Promise<Cgroups | CgroupsUnavailable> {
  let hierarchies: Hierarchy[];
  try {
    hierarchies = await findHierarchies(root);
  } catch (err) {
    return { unavailable: `cannot read this process's cgroups (${(err as Error).message})` };
  }
  const memory = hierarchies.find((h) => h.kind === "memory");
  const unified = hierarchies.find((h) => h.kind === "unified");
  const name = `dispatch-${process.pid}-${randomBytes(3).toString("hex")}`;
  const problems: string[] = [];
  if (memory) {
    const pids = hierarchies.find((h) => h.kind === "pids");
    try {
      await removeStale(memory.own);
      await mkdir(join(memory.own, name));
    } catch (err) {
      problems.push(`cgroup v1 memory at ${memory.own} is not writable (${(err as Error).message})`);
    }
    if (problems.length === 0) {
      let pidsBase: string | undefined;
      if (pids) {
        try {
          await removeStale(pids.own);
          await mkdir(join(pids.own, name));
          pidsBase = join(pids.own, name);
        } catch {
          pidsBase = undefined;
        }
      }
      return v1(join(memory.own, name), pidsBase);
    }
  }
  if (unified) {
    try {
      const controllers = (await readFile(join(unified.own, "cgroup.controllers"), "utf8")).split(/\s+/);
      if (!controllers.includes("memory") || !controllers.includes("pids")) {
        throw new Error("the memory and pids controllers are not available there");
      }
      const enabled = (await readFile(join(unified.own, "cgroup.subtree_control"), "utf8")).split(/\s+/);
      // Enabling controllers for children fails (EBUSY) in a cgroup that holds processes
      // itself: the cgroup must be delegated to Dispatch with them enabled.
      if (!enabled.includes("memory") || !enabled.includes("pids")) {
        await writeFile(join(unified.own, "cgroup.subtree_control"), "+memory +pids");
      }
      await removeStale(unified.own);
      await mkdir(join(unified.own, name));
      const base = join(unified.own, name);
      await writeFile(join(base, "cgroup.subtree_control"), "+memory +pids");
      return v2(base);
    } catch (err) {
      problems.push(
        `cgroup v2 at ${unified.own} cannot take child cgroups with memory and pids limits (${(err as Error).message})`,
      );
    }
  }
  return {
    unavailable:
      problems.length > 0 ? problems.join("; ") : "no cgroup hierarchy with a memory controller is mounted",
  };
}

/** What differs between cgroup v1 and v2: where instance cgroups go, and their files. */
interface Flavor {
  version: Cgroups["version"];
  limitsProcesses: boolean;
  /** The driver's directory in each hierarchy an instance cgroup spans. */
  bases: string[];
  /** Writes the limits into an instance's directories (in the order of `bases`). */
  configure(dirs: string[], limits: CgroupLimits): Promise<void>;
  outOfMemory(dirs: string[]): Promise<boolean>;
}

function v1(memoryBase: string, pidsBase: string | undefined): Cgroups {
  return withSpares({
    version: "cgroup v1",
    limitsProcesses: pidsBase !== undefined,
    bases: pidsBase === undefined ? [memoryBase] : [memoryBase, pidsBase],
    async configure([memory = "", pids], limits) {
      await writeFile(join(memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
      // Swap would let an instance exceed its limit: memory + swap gets the same limit
      // (the file is there only when the kernel accounts swap).
      await writeFile(join(memory, "memory.memsw.limit_in_bytes"), String(limits.memoryBytes)).catch(
        ignoreMissing,
      );
      if (pids !== undefined) await writeFile(join(pids, "pids.max"), String(limits.maxProcesses));
    },
    async outOfMemory([memory = ""]) {
      // "oom_kill N" (kernel 4.13 and later) counts the processes the OOM killer took.
      const control = await readFile(join(memory, "memory.oom_control"), "utf8");
      const kills = /^oom_kill (\d+)$/m.exec(control)?.[1];
      return kills !== undefined ? Number(kills) > 0 : /^under_oom 1$/m.test(control);
    },
  });
}

function v2(base: string): Cgroups {
  return withSpares({
    version: "cgroup v2",
    limitsProcesses: true,
    bases: [base],
    async configure([dir = ""], limits) {
      await writeFile(join(dir, "memory.max"), String(limits.memoryBytes));
      await writeFile(join(dir, "memory.swap.max"), "0").catch(ignoreMissing);
      await writeFile(join(dir, "pids.max"), String(limits.maxProcesses));
    },
    async outOfMemory([dir = ""]) {
      const events = await readFile(join(dir, "memory.events"), "utf8");
      return Number(/^oom_kill (\d+)$/m.exec(events)?.[1] ?? 0) > 0;
    },
  });
}

/**
 * Instance cgroups, one made ahead: making a memory cgroup waits in the kernel
 * (milliseconds, more on a loaded machine), and a cold start should not.
 */
function withSpares(flavor: Flavor): Cgroups {
  let counter = 0;
  const make = async () => {
    const name = `instance-${++counter}`;
    const dirs = flavor.bases.map((base) => join(base, name));
    for (const dir of dirs) await mkdir(dir);
    return dirs;
  };
  let spare: Promise<string[] | undefined> | undefined;
  const prepare = () => {
    spare = make().catch(() => undefined);
  };
  prepare();
  return {
    version: flavor.version,
    limitsProcesses: flavor.limitsProcesses,
    async create(limits) {
      const ready = spare;
      prepare();
      const dirs = (await ready) ?? (await make());
      try {
        await flavor.configure(dirs, limits);
      } catch (err) {
        await Promise.all(dirs.map((dir) => rmdir(dir).catch(() => undefined)));
        throw err;
      }
      return instanceCgroup(dirs, () => flavor.outOfMemory(dirs));
    },
    async close() {
      const left = await spare;
      for (const dir of left ?? []) await rmdirPatiently(dir);
      for (const base of flavor.bases) await rmdirPatiently(base);
    },
  };
}

function instanceCgroup(dirs: string[], outOfMemory: () => Promise<boolean>): InstanceCgroup {
  const killAll = async () => {
    for (const dir of dirs) await killEverything(dir);
  };
  return {
    procsFiles: dirs.map((dir) => join(dir, "cgroup.procs")),
    outOfMemory: () => outOfMemory().catch(() => false),
    killAll,
    async remove() {
      await killAll();
      for (const dir of dirs) await rmdirPatiently(dir);
    },
  };
}

/**
 * SIGKILLs every process of a cgroup until it is empty. v2's `cgroup.kill`
 * does it in one step; otherwise the list is read again after each round, as a
 * process may fork while it is being killed (the pids limit bounds how often).
 */
async function killEverything(dir: string): Promise<void> {
  await writeFile(join(dir, "cgroup.kill"), "1").catch(() => undefined);
  for (let round = 0; round < 100; round++) {
    const pids = await readPids(join(dir, "cgroup.procs"));
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await sleep(round < 10 ? 5 : 50);
  }
}

async function readPids(file: string): Promise<number[]> {
  try {
    return (await readFile(file, "utf8")).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Removes a cgroup directory; the kernel refuses (EBUSY) for a moment after its last process exits. */
async function rmdirPatiently(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || attempt >= 100) throw err;
      await sleep(attempt < 10 ? 5 : 50);
    }
  }
}

/** Removes what a control plane that is gone left under `dir` (dispatch-<pid>-* of a dead pid). */
async function removeStale(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const pid = /^dispatch-(\d+)-[0-9a-f]+$/.exec(entry.name)?.[1];
    if (!entry.isDirectory() || pid === undefined || alive(Number(pid))) continue;
    const stale = join(dir, entry.name);
    try {
      for (const child of await readdir(stale, { withFileTypes: true })) {
        if (!child.isDirectory()) continue;
        await killEverything(join(stale, child.name));
        await rmdirPatiently(join(stale, child.name));
      }
      await rmdirPatiently(stale);
    } catch {
      // Someone else's, or still busy: it does not stop this control plane.
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The hierarchies of this process's cgroups (/proc/self/cgroup) that are
 * mounted (/proc/self/mountinfo), with the directory of its own cgroup in each.
 */
async function findHierarchies(root: string): Promise<Hierarchy[]> {
  const memberships = (await readFile(join(root, "proc/self/cgroup"), "utf8")).split("\n").filter(Boolean);
  const mounts = (await readFile(join(root, "proc/self/mountinfo"), "utf8")).split("\n").filter(Boolean);
  const found: Hierarchy[] = [];
  for (const line of mounts) {
    // mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const [left = "", right = ""] = line.split(" - ");
    const fields = left.split(" ");
    const [fstype = "", , superOptions = ""] = right.split(" ");
    const mountRoot = unescapeMount(fields[3] ?? "/");
    const mountPoint = join(root, unescapeMount(fields[4] ?? ""));
    if (fstype === "cgroup2") {
      const path = memberships.find((m) => m.startsWith("0::"))?.slice(3);
      if (path !== undefined)
        found.push({ kind: "unified", own: join(mountPoint, relative(path, mountRoot)) });
    } else if (fstype === "cgroup") {
      const controllers = superOptions.split(",");
      for (const kind of ["memory", "pids"] as const) {
        if (!controllers.includes(kind) || found.some((h) => h.kind === kind)) continue;
        const membership = memberships
          .map((m) => m.split(":"))
          .find(([, list = ""]) => list.split(",").includes(kind));
        const path = membership?.slice(2).join(":");
        if (path !== undefined) found.push({ kind, own: join(mountPoint, relative(path, mountRoot)) });
      }
    }
  }
  return found;
}

/** A cgroup path as seen inside a mount of the hierarchy that starts at `mountRoot`. */
function relative(path: string, mountRoot: string): string {
  if (mountRoot === "/" || mountRoot === "") return path;
  return path.startsWith(mountRoot) ? path.slice(mountRoot.length) || "/" : path;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== "ENOENT") throw err;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
