import { createHash } from "node:crypto";
import { envCommand } from "./worker-env.js";

/** Where things appear inside a sandbox. */
export const sandboxPaths = {
  /** The function's bundle, read-only; the worker's working directory. */
  function: "/function",
  /** The runtimes package (the worker scripts), read-only. */
  runtime: "/runtime",
  /** A private tmpfs: HOME and TMPDIR. */
  tmp: "/tmp",
} as const;

/** What the host offers a sandbox, found once when the driver starts. */
export interface HostLayout {
  /** Absolute path of bwrap. */
  bwrap: string;
  /** setpriv, to drop from root to the org's uid inside the sandbox; undefined when not root. */
  setpriv: string | undefined;
  /** /bin, /lib, ... : bound read-only when a directory, recreated when a symlink (merged /usr). */
  topLevel: ReadonlyArray<{ path: string; symlink?: string }>;
  /**
   * Files and directories of /etc a program needs for DNS, TLS and time, those that exist:
   * bound read-only, or recreated as the symlink they are when it points into /usr
   * (/etc/localtime: ICU takes the zone's name from the link, and without it reads every
   * file of /usr/share/zoneinfo to find the zone, tens of milliseconds of each cold start).
   */
  etc: ReadonlyArray<{ path: string; symlink?: string }>;
}

/** One instance's sandbox. */
export interface SandboxSpec {
  /** The host directory of the runtimes package, seen at {@link sandboxPaths.runtime}. */
  runtimeDir: string;
  /** Interpreter installations outside /usr, bound read-only at the same path. */
  prefixes: readonly string[];
  /** The unpacked bundle, seen at {@link sandboxPaths.function}. */
  bundleDir: string;
  /** Generated /etc/passwd and /etc/group naming the sandbox's user. */
  passwd: string;
  group: string;
  /** The uid and gid the worker runs as, when the control plane is root. */
  uid: number | undefined;
  /**
   * Variables set only for the worker, by `/usr/bin/env` once it runs unprivileged in the
   * sandbox, never for the processes that build the sandbox ({@link splitEnv}).
   */
  innerEnv: Record<string, string>;
}

/**
 * The bwrap command line that runs `command` in a sandbox: its own mount, pid,
 * ipc, uts and cgroup namespaces; a read-only view of the system (/usr and
 * the top-level links into it, a few /etc files), of the interpreter, of the
 * runtime and of the bundle, a private /tmp, a fresh /proc and /dev; a new
 * session (no terminal to inject into); killed with its parent. The network is
 * the host's: the control plane reaches the worker on a loopback port.
 * As root, bwrap keeps only CAP_SETUID and CAP_SETGID, which setpriv uses to
 * become the org's uid with no capabilities at all and no way to gain any.
 */
export function bubblewrapArgs(host: HostLayout, sandbox: SandboxSpec, command: readonly string[]): string[] {
  const args = [
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    "function",
    "--die-with-parent",
    "--new-session",
    "--ro-bind",
    "/usr",
    "/usr",
  ];
  for (const { path, symlink } of host.topLevel) {
    if (symlink !== undefined) args.push("--symlink", symlink, path);
    else args.push("--ro-bind", path, path);
  }
  // bwrap would create the parents of a mount point for the owner only (0700): the
  // unprivileged user could not reach what is bound under them.
  const made = new Set<string>();
  const parents = (path: string) => {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const dir = `/${parts.slice(0, i).join("/")}`;
      if (made.has(dir)) continue;
      made.add(dir);
      args.push("--perms", "0755", "--dir", dir);
    }
  };
  for (const { path, symlink } of host.etc) {
    parents(path);
    if (symlink !== undefined) args.push("--symlink", symlink, path);
    else args.push("--ro-bind-try", path, path);
  }
  parents("/etc/passwd");
  args.push("--ro-bind", sandbox.passwd, "/etc/passwd", "--ro-bind", sandbox.group, "/etc/group");
  for (const prefix of sandbox.prefixes) {
    parents(prefix);
    args.push("--ro-bind", prefix, prefix);
  }
  args.push(
    "--ro-bind",
    sandbox.runtimeDir,
    sandboxPaths.runtime,
    "--ro-bind",
    sandbox.bundleDir,
    sandboxPaths.function,
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--perms",
    "1777",
    "--tmpfs",
    sandboxPaths.tmp,
    "--chdir",
    sandboxPaths.function,
  );
  const inner: string[] = [];
  if (sandbox.uid !== undefined && host.setpriv !== undefined) {
    args.push("--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID");
    inner.push(
      host.setpriv,
      `--reuid=${sandbox.uid}`,
      `--regid=${sandbox.uid}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
    );
  }
  args.push("--", ...inner, ...envCommand(sandbox.innerEnv), ...command);
  return args;
}

/** The first uid of the range sandboxes use (far above any account a system creates). */
export const sandboxUidBase = 2_000_000_000;
/** How many uids the range has: 2^24. */
export const sandboxUidSpan = 2 ** 24;

/**
 * The uid (and gid) an org's workers run as when the control plane runs as
 * root: derived from the org's name, so it is the same across restarts and
 * needs no stored allocation. Two orgs share a uid when their hashes collide
 * (for n orgs, about n²/2^25: 0.03 % for 100 orgs, 3 % for 1000); they still
 * run in sandboxes of their own, so what they share is only what a uid
 * decides outside a sandbox (signalling each other's processes, which their
 * pid namespaces already prevent).
 */
export function sandboxUid(org: string): number {
  const digest = createHash("sha256").update(`dispatch-org:${org}`).digest();
  return sandboxUidBase + (digest.readUInt32BE(0) % sandboxUidSpan);
}

/** A passwd and a group file naming the sandbox's user, so `whoami` and `os.userInfo()` work. */
export function passwdFiles(uid: number): { passwd: string; group: string } {
  return {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\nfunction:x:${uid}:${uid}:Dispatch function:${sandboxPaths.tmp}:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`,
    group: `root:x:0:\nfunction:x:${uid}:\nnogroup:x:65534:\n`,
  };
}
