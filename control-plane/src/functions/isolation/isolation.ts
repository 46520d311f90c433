import { execFile } from "node:child_process";
import { constants } from "node:fs";
import {
  access,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  realpath,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative, sep } from "node:path";
import { type Runtime, runtimesDir, workerCommand } from "@dispatch/runtimes";
import { ConfigurationError } from "../../errors.js";
import { bubblewrapArgs, type HostLayout, passwdFiles, sandboxPaths, sandboxUid } from "./bubblewrap.js";
import { type Cgroups, type InstanceCgroup, openCgroups } from "./cgroup.js";
import { memoryFlags } from "./memory-limit.js";
import { envCommand, loaderVariables, splitEnv } from "./worker-env.js";

/** How workers are kept from the platform and from each other. */
export type IsolationMode = "bubblewrap" | "process";
/** What the operator asks for: the strongest available, or one mode (refused when it cannot work). */
export type IsolationChoice = "auto" | IsolationMode;

/** The isolation in force, as `dispatch status` and `dispatch up` report it. */
export interface IsolationReport {
  mode: IsolationMode;
  /** What isolates a function, in one line. */
  summary: string;
  /** Set when functions can reach what they should not: what, and how to fix it. */
  warning: string | undefined;
}

/** What a driver needs to start one worker. */
export interface LaunchInput {
  org: string;
  runtime: Runtime;
  /** The unpacked bundle on the host. */
  bundleDir: string;
  /** The function's env and the `DISPATCH_*` variables; `DISPATCH_FUNCTION_DIR` is set here. */
  env: Record<string, string>;
  memoryBytes: number;
}

/** How to spawn one worker, and what to undo after it ends. */
export interface WorkerLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** The instance's cgroup, when cgroups are in use. */
  cgroup: InstanceCgroup | undefined;
  /**
   * Whether the spawned process reports a worker killed by signal N as exit
   * code 128+N (bwrap does: the worker is its grandchild).
   */
  signalsAsExitCodes: boolean;
  /** Kills what is left of the instance and removes its cgroup and temp dir. */
  cleanup(): Promise<void>;
}

/** The isolation of a driver's workers, chosen once when it starts. */
export interface Isolation extends IsolationReport {
  launch(input: LaunchInput): Promise<WorkerLaunch>;
  /** Removes what the isolation set up (cgroup directory, generated files). */
  close(): Promise<void>;
}

/** Options for {@link openIsolation}. */
export interface IsolationOptions {
  /** Default "auto": bubblewrap when it works here, else plain processes (with a warning). */
  choice?: IsolationChoice;
  /** Tasks (processes and threads) per instance, when cgroups are available; default 1024. */
  maxProcesses?: number;
  /** Where to look for bwrap and setpriv; default PATH plus /usr/bin and /bin. */
  path?: string;
}

/** The isolation asked for cannot work on this machine; the message says why and what to do. */
export class IsolationUnavailableError extends ConfigurationError {}

/** The environment a worker gets from the control plane's: locale and time zone, nothing secret. */
const inheritedLocale = ["LANG", "LC_ALL", "TZ", "SYSTEMROOT"];

/** /etc entries a sandboxed program needs for DNS, TLS and time; passwd and group are generated. */
const etcEntries = [
  "/etc/resolv.conf",
  "/etc/hosts",
  "/etc/nsswitch.conf",
  "/etc/host.conf",
  "/etc/gai.conf",
  "/etc/localtime",
  "/etc/timezone",
  "/etc/ssl",
  "/etc/pki",
  "/etc/ca-certificates",
  "/etc/crypto-policies",
  "/etc/alternatives",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/mime.types",
];
const topLevelDirs = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

const installBubblewrap =
  "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap) and start again";

/**
 * Chooses how workers are isolated, once: bubblewrap when it is installed and
 * works here (tried with the real arguments), else plain processes with a
 * private temp dir, a scrubbed environment and, for Node, its permission
 * model. Memory and process limits come from cgroups in both modes when this
 * process may create cgroups. Throws {@link IsolationUnavailableError} when
 * `choice` is "bubblewrap" and it cannot work.
 */
export async function openIsolation(options: IsolationOptions = {}): Promise<Isolation> {
  const choice = options.choice ?? "auto";
  const maxProcesses = options.maxProcesses ?? 1024;
  const opened = await openCgroups();
  const cgroups = "unavailable" in opened ? undefined : opened;
  const limits = cgroups
    ? `memory limit${cgroups.limitsProcesses ? ` and at most ${maxProcesses} tasks` : ""} per instance (${cgroups.version})`
    : `memory: Node's heap flag and Python's RLIMIT_AS only (no cgroups: ${(opened as { unavailable: string }).unavailable})`;
  const searchPath = options.path ?? `${process.env.PATH ?? ""}${delimiter}/usr/bin${delimiter}/bin`;

  let bubblewrapProblem = "";
  if (choice !== "process") {
    const sandbox = await openBubblewrap(searchPath, cgroups, maxProcesses, limits).catch(
      (err: Error) => err,
    );
    if (!(sandbox instanceof Error)) return sandbox;
    bubblewrapProblem = sandbox.message;
    if (choice === "bubblewrap") {
      await cgroups?.close();
      throw new IsolationUnavailableError(
        `--isolation bubblewrap cannot work here: ${bubblewrapProblem}. Fix that, or start with --isolation process (weaker: functions can read what this user can)`,
      );
    }
  }
  const fix =
    choice === "process"
      ? "chosen with --isolation process; the default (auto) uses bubblewrap where it works"
      : `bubblewrap: ${bubblewrapProblem}`;
  return await openProcessIsolation(cgroups, maxProcesses, limits, fix);
}

async function openBubblewrap(
  searchPath: string,
  cgroups: Cgroups | undefined,
  maxProcesses: number,
  limits: string,
): Promise<Isolation> {
  const bwrap = await which("bwrap", searchPath);
  if (!bwrap) throw new Error(`bwrap is not installed; ${installBubblewrap}`);
  const root = process.getuid?.() === 0;
  const setpriv = root ? await which("setpriv", searchPath) : undefined;
  if (root && !setpriv) {
    throw new Error(
      "setpriv (util-linux) is not installed, and as root workers need it to run as an unprivileged user",
    );
  }
  const host: HostLayout = { bwrap, setpriv, topLevel: await topLevel(), etc: await etcView(etcEntries) };
  await removeStaleState();
  const state = await mkdtemp(join(tmpdir(), `dispatch-sandbox-${process.pid}-`));
  await chmod(state, 0o755);
  const accounts = new Map<number, Promise<{ passwd: string; group: string }>>();
  const accountFiles = (uid: number) => {
    let files = accounts.get(uid);
    if (!files) {
      files = (async () => {
        const paths = { passwd: join(state, `passwd-${uid}`), group: join(state, `group-${uid}`) };
        const content = passwdFiles(uid);
        await writeFile(paths.passwd, content.passwd, { mode: 0o644 });
        await writeFile(paths.group, content.group, { mode: 0o644 });
        return paths;
      })();
      accounts.set(uid, files);
    }
    return files;
  };
  const runtimeDir = await realpath(runtimesDir);
  const prefixes = new Map<Runtime, Promise<string[]>>();
  const prefixesOf = (runtime: Runtime) => {
    let found = prefixes.get(runtime);
    if (!found) {
      found = interpreterPrefixes(workerCommand(runtime).command);
      prefixes.set(runtime, found);
    }
    return found;
  };

  // Tried once with the arguments every worker gets: namespaces, binds, the uid switch.
  const probeUid = root ? sandboxUid("dispatch-probe") : process.getuid?.();
  const probeDir = await mkdtemp(join(state, "probe-"));
  try {
    const files = await accountFiles(probeUid ?? 0);
    const args = bubblewrapArgs(
      host,
      {
        runtimeDir,
        prefixes: [],
        bundleDir: probeDir,
        ...files,
        uid: root ? probeUid : undefined,
        innerEnv: {},
      },
      ["/usr/bin/id", "-u"],
    );
    const answer = await run(bwrap, args);
    if (answer.code !== 0 || answer.stdout.trim() !== String(probeUid)) {
      throw new Error(
        `bwrap is installed but cannot make a sandbox here (${answer.stderr.trim() || `exit ${answer.code}, uid ${answer.stdout.trim()}`}); user namespaces may be turned off (sysctl kernel.unprivileged_userns_clone) or the container may forbid mounts`,
      );
    }
  } catch (err) {
    await rm(state, { recursive: true, force: true });
    throw err;
  } finally {
    await rm(probeDir, { recursive: true, force: true });
  }

  return {
    mode: "bubblewrap",
    summary: `bubblewrap: own namespaces; sees only system files, its runtime and bundle (read-only) and a private /tmp; ${root ? "a uid per org, " : ""}no capabilities; ${limits}; network shared with the host`,
    warning: undefined,
    async launch(input) {
      const worker = workerCommand(input.runtime);
      const uid = root ? sandboxUid(input.org) : process.getuid?.();
      const { outer, inner } = splitEnv(input.env);
      const env: Record<string, string> = {
        PATH: "/usr/local/bin:/usr/bin:/bin",
        HOME: sandboxPaths.tmp,
        TMPDIR: sandboxPaths.tmp,
        ...pick(process.env, inheritedLocale),
        ...(input.runtime === "python3" ? pythonMallocEnv : {}),
        ...outer,
        DISPATCH_FUNCTION_DIR: sandboxPaths.function,
      };
      const script = join(sandboxPaths.runtime, relative(runtimeDir, await realpath(worker.args[0] ?? "")));
      if (root) await readableByAll(input.bundleDir);
      const args = bubblewrapArgs(
        host,
        {
          runtimeDir,
          prefixes: await prefixesOf(input.runtime),
          bundleDir: input.bundleDir,
          ...(await accountFiles(uid ?? 0)),
          uid: root ? uid : undefined,
          innerEnv: inner,
        },
        [worker.command, ...heapFlags(cgroups, input), script, ...worker.args.slice(1)],
      );
      return await withCgroup(cgroups, maxProcesses, input, {
        command: bwrap,
        args,
        env,
        cwd: "/",
        signalsAsExitCodes: true,
        cleanup: async () => {},
      });
    },
    async close() {
      await cgroups?.close();
      await rm(state, { recursive: true, force: true });
    },
  };
}

/** Removes the generated files of control planes that died (dispatch-sandbox-<pid>-*). */
async function removeStaleState(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const pid = /^dispatch-sandbox-(\d+)-/.exec(name)?.[1];
    if (pid === undefined) continue;
    try {
      process.kill(Number(pid), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") {
        await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }
}

const madeReadable = new Set<string>();

/**
 * Makes a bundle readable by the sandbox's unprivileged user: a tarball may
 * carry files of mode 0600. Only the sandbox sees the bundle, so this shows
 * it to no one else. Once per bundle directory (bundles never change).
 */
async function readableByAll(dir: string): Promise<void> {
  if (madeReadable.has(dir)) return;
  const visit = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if (info.isSymbolicLink()) return;
    if (info.isDirectory()) {
      if ((info.mode & 0o555) !== 0o555) await chmod(path, info.mode | 0o555);
      for (const entry of await readdir(path)) await visit(join(path, entry));
    } else if ((info.mode & 0o444) !== 0o444 || (info.mode & 0o100 && (info.mode & 0o011) !== 0o011)) {
      await chmod(path, info.mode | 0o444 | (info.mode & 0o100 ? 0o011 : 0));
    }
  };
  await visit(dir);
  madeReadable.add(dir);
}

/** glibc reserves 64 MiB of address space per thread arena: few arenas keep Python's RLIMIT_AS meaningful. */
const pythonMallocEnv = { MALLOC_ARENA_MAX: "2" };

async function openProcessIsolation(
  cgroups: Cgroups | undefined,
  maxProcesses: number,
  limits: string,
  fix: string,
): Promise<Isolation> {
  const runtimeDir = await realpath(runtimesDir);
  const permission = await nodePermissionModel();
  const node = permission
    ? "Node: permission model (reads only its runtime and bundle, writes only its temp dir, no child processes)"
    : "Node: not isolated (this Node has no permission model)";
  return {
    mode: "process",
    summary: `process: runs as this user with a private HOME and TMPDIR; ${node}; Python: not isolated; ${limits}`,
    warning: `${permission ? "Python functions" : "functions"} can read what this user can, the data directory (admin token, secret key) and the CLI config included (${fix})`,
    async launch(input) {
      const worker = workerCommand(input.runtime);
      const tmp = await mkdtemp(join(tmpdir(), "dispatch-instance-"));
      const { outer, inner } = splitEnv(input.env);
      const env: Record<string, string> = {
        ...pick(process.env, ["PATH", ...inheritedLocale]),
        HOME: tmp,
        TMPDIR: tmp,
        ...(input.runtime === "python3" ? pythonMallocEnv : {}),
        ...outer,
        DISPATCH_FUNCTION_DIR: input.bundleDir,
      };
      const flags = heapFlags(cgroups, input);
      if (input.runtime === "nodejs" && permission) {
        // NODE_OPTIONS could lift the permission model (--allow-child-process), and a
        // library the loader injects runs below it: neither reaches a Node worker here.
        delete env.NODE_OPTIONS;
        for (const name of Object.keys(inner)) if (loaderVariables.has(name)) delete inner[name];
        flags.unshift(
          "--experimental-permission",
          "--disable-warning=ExperimentalWarning",
          `--allow-fs-read=${runtimeDir}`,
          `--allow-fs-read=${input.bundleDir}`,
          `--allow-fs-read=${tmp}`,
          `--allow-fs-write=${tmp}`,
        );
      }
      const command = [...envCommand(inner), worker.command, ...flags, ...worker.args];
      return await withCgroup(cgroups, maxProcesses, input, {
        command: command[0] as string,
        args: command.slice(1),
        env,
        cwd: input.bundleDir,
        signalsAsExitCodes: false,
        cleanup: () => rm(tmp, { recursive: true, force: true }),
      });
    },
    async close() {
      await cgroups?.close();
    },
  };
}

/**
 * Puts the launch in a cgroup of its own: a shell joins it, then execs the
 * worker, so no code of the function runs outside it. Core dumps are off (a
 * worker out of heap aborts).
 */
async function withCgroup(
  cgroups: Cgroups | undefined,
  maxProcesses: number,
  input: LaunchInput,
  launch: Omit<WorkerLaunch, "cgroup">,
): Promise<WorkerLaunch> {
  const cgroup = cgroups ? await cgroups.create({ memoryBytes: input.memoryBytes, maxProcesses }) : undefined;
  const join = cgroup?.procsFiles ?? [];
  return {
    ...launch,
    command: "/bin/sh",
    args: [
      "-c",
      'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; ulimit -c 0; exec "$@"',
      "dispatch-worker",
      ...join,
      "--",
      launch.command,
      ...launch.args,
    ],
    cgroup,
    async cleanup() {
      await cgroup?.remove();
      await launch.cleanup();
    },
  };
}

/**
 * Node's heap limit ({@link memoryFlags}) where no cgroup bounds the instance. Where one does,
 * it is left out: any V8 flag makes V8 refuse Node's built-in code cache, and Node then compiles
 * its own internals at every start (about 25 ms of each cold start), while the cgroup stops a
 * worker at its limit anyway.
 */
function heapFlags(cgroups: Cgroups | undefined, input: LaunchInput): string[] {
  return cgroups ? [] : memoryFlags(input.runtime, input.memoryBytes);
}

/** Whether this Node enforces `--experimental-permission` with one `--allow-fs-read` per path. */
async function nodePermissionModel(): Promise<boolean> {
  if (!process.allowedNodeEnvironmentFlags.has("--experimental-permission")) return false;
  const a = await mkdtemp(join(tmpdir(), "dispatch-permission-"));
  try {
    const b = join(a, "b");
    await mkdir(b);
    const check = `process.exit(process.permission.has("fs.read", ${JSON.stringify(b)}) && !process.permission.has("fs.read", "/etc/hostname") ? 0 : 1)`;
    const answer = await run(process.execPath, [
      "--experimental-permission",
      "--disable-warning=ExperimentalWarning",
      `--allow-fs-read=${join(a, "x")}`,
      `--allow-fs-read=${b}`,
      "-e",
      check,
    ]);
    return answer.code === 0;
  } finally {
    await rm(a, { recursive: true, force: true });
  }
}

/**
 * The installation an interpreter belongs to (`<prefix>/bin/python3` →
 * `<prefix>`), bound into the sandbox at the same path so its libraries are
 * found. Nothing for one under /usr (bound already). A prefix that holds a
 * home directory or the temp dir is refused: binding it would show them.
 */
async function interpreterPrefixes(command: string): Promise<string[]> {
  const real = await realpath(command).catch(() => command);
  const prefix = dirname(dirname(real));
  if (prefix === "/usr" || prefix.startsWith(`/usr${sep}`)) return [];
  const home = process.env.HOME ?? "/root";
  for (const sensitive of ["/", home, tmpdir()]) {
    const inside = relative(prefix, sensitive);
    if (!inside.startsWith("..")) {
      throw new Error(
        `the interpreter ${real} is installed under ${prefix}, which holds ${sensitive}: a sandbox cannot show it without showing that; install it under a prefix of its own (e.g. /opt/python3) or set DISPATCH_PYTHON`,
      );
    }
  }
  return [prefix];
}

async function topLevel(): Promise<HostLayout["topLevel"]> {
  const found: Array<{ path: string; symlink?: string }> = [];
  for (const path of topLevelDirs) {
    try {
      const info = await lstat(path);
      if (info.isSymbolicLink()) found.push({ path, symlink: await readlink(path) });
      else if (info.isDirectory()) found.push({ path });
    } catch {
      // Not on this system.
    }
  }
  return found;
}

/** The /etc entries that exist; a symlink into /usr stays a symlink (see {@link HostLayout.etc}). */
async function etcView(paths: readonly string[]): Promise<HostLayout["etc"]> {
  const found: Array<{ path: string; symlink?: string }> = [];
  for (const path of paths) {
    try {
      const resolved = await realpath(path);
      const info = await lstat(path);
      if (info.isSymbolicLink() && resolved.startsWith("/usr/")) {
        found.push({ path, symlink: await readlink(path) });
      } else {
        found.push({ path });
      }
    } catch {
      // Not on this system (or a dangling link).
    }
  }
  return found;
}

async function which(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(delimiter)) {
    if (!dir.startsWith("/")) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

function pick(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { PATH: "/usr/bin:/bin" }, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (error && code !== 0 ? error.message : "") });
    });
  });
}
