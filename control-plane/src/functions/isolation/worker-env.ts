/**
 * Variables the dynamic loader or libc act on (glibc's list of those it ignores
 * in setuid programs).
 */
export const loaderVariables: ReadonlySet<string> = new Set([
  "GCONV_PATH",
  "GETCONF_DIR",
  "GLIBC_TUNABLES",
  "HOSTALIASES",
  "LD_AUDIT",
  "LD_DEBUG",
  "LD_DEBUG_OUTPUT",
  "LD_DYNAMIC_WEAK",
  "LD_HWCAP_MASK",
  "LD_LIBRARY_PATH",
  "LD_ORIGIN_PATH",
  "LD_PRELOAD",
  "LD_PROFILE",
  "LD_SHOW_AUXV",
  "LD_USE_LOAD_BIAS",
  "LOCALDOMAIN",
  "LOCPATH",
  "MALLOC_TRACE",
  "NIS_PATH",
  "NLSPATH",
  "RESOLV_HOST_CONF",
  "RES_OPTIONS",
  "TMPDIR",
  "TZDIR",
]);

/** Variables a shell acts on as it starts (bash runs BASH_ENV's file even when not interactive). */
export const shellVariables: ReadonlySet<string> = new Set([
  "BASH_ENV",
  "BASHOPTS",
  "BASH_XTRACEFD",
  "CDPATH",
  "ENV",
  "GLOBIGNORE",
  "IFS",
  "PS4",
  "SHELLOPTS",
]);

/**
 * Splits a worker's environment in two. The processes that start a worker (a
 * shell that joins its cgroup, bwrap, setpriv) run outside its sandbox, as the
 * control plane's user or as root: a function's env must not make them load a
 * library or run a script of its bundle. What the loader or a shell acts on
 * goes to `inner`, which `/usr/bin/env` sets as the last step before the
 * worker ({@link envCommand}); the rest to `outer`, inherited all the way.
 */
export function splitEnv(env: Record<string, string>): {
  outer: Record<string, string>;
  inner: Record<string, string>;
} {
  const outer: Record<string, string> = {};
  const inner: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (loaderVariables.has(name) || shellVariables.has(name)) inner[name] = value;
    else outer[name] = value;
  }
  return { outer, inner };
}

/**
 * The command prefix that sets `env` for what follows: `/usr/bin/env NAME=VALUE ...`,
 * or nothing. The values show in the process list for the moment before the
 * worker starts (and in bwrap's arguments): they are paths and options, which a
 * function's env is not meant to hide (secrets reach calls in `context.secrets`).
 */
export function envCommand(env: Record<string, string>): string[] {
  const pairs = Object.entries(env);
  return pairs.length === 0 ? [] : ["/usr/bin/env", ...pairs.map(([name, value]) => `${name}=${value}`)];
}
