import test from "ava";
import { bubblewrapArgs, type HostLayout, sandboxUid, sandboxUidBase, sandboxUidSpan } from "./bubblewrap.js";

const host: HostLayout = {
  bwrap: "/usr/bin/bwrap",
  setpriv: "/usr/bin/setpriv",
  topLevel: [{ path: "/lib", symlink: "usr/lib" }, { path: "/sbin" }],
  etc: [
    { path: "/etc/resolv.conf" },
    { path: "/etc/ssl" },
    { path: "/etc/localtime", symlink: "/usr/share/zoneinfo/Etc/UTC" },
  ],
};
const sandbox = {
  runtimeDir: "/srv/dispatch/runtimes",
  prefixes: ["/opt/python3.12"],
  bundleDir: "/var/lib/dispatch/work/bundles/abc",
  passwd: "/tmp/s/passwd-7",
  group: "/tmp/s/group-7",
  uid: 2_000_000_007,
  innerEnv: { LD_LIBRARY_PATH: "/function/lib" },
};

/** The pairs `flag a b` of an argument list, as "flag a b" strings. */
function binds(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((arg, i) => {
    if (arg === flag) out.push(`${args[i + 1]} ${args[i + 2]}`);
  });
  return out;
}

test("the sandbox shows only system files, the interpreter, the runtime and the bundle, all read-only", (t) => {
  const args = bubblewrapArgs(host, sandbox, ["/usr/bin/node", "/runtime/dist/src/node/worker.js"]);
  t.deepEqual(binds(args, "--ro-bind"), [
    "/usr /usr",
    "/sbin /sbin",
    "/tmp/s/passwd-7 /etc/passwd",
    "/tmp/s/group-7 /etc/group",
    "/opt/python3.12 /opt/python3.12",
    "/srv/dispatch/runtimes /runtime",
    "/var/lib/dispatch/work/bundles/abc /function",
  ]);
  t.deepEqual(binds(args, "--ro-bind-try"), ["/etc/resolv.conf /etc/resolv.conf", "/etc/ssl /etc/ssl"]);
  t.deepEqual(binds(args, "--symlink"), ["usr/lib /lib", "/usr/share/zoneinfo/Etc/UTC /etc/localtime"]);
  t.false(args.includes("--bind"), "nothing is bound writable");
  for (const flag of [
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--die-with-parent",
    "--new-session",
  ]) {
    t.true(args.includes(flag), flag);
  }
  t.false(
    args.includes("--unshare-net"),
    "the network is shared: the control plane calls the worker on loopback",
  );
  t.is(args[args.indexOf("--tmpfs") + 1], "/tmp");
  t.deepEqual(
    binds(args, "--perms"),
    ["0755 --dir", "0755 --dir", "1777 --tmpfs"],
    "the parents of what is bound below / can be passed through, and /tmp is writable",
  );
  t.deepEqual(
    args.flatMap((a, i) => (a === "--dir" ? [args[i + 1]] : [])),
    ["/etc", "/opt"],
  );
  t.is(args[args.indexOf("--chdir") + 1], "/function");
});

test("as root the worker becomes the org's uid with no capabilities, and the inner variables apply only then", (t) => {
  const args = bubblewrapArgs(host, sandbox, ["/usr/bin/node", "worker.js"]);
  const inner = args.slice(args.indexOf("--") + 1);
  t.deepEqual(inner, [
    "/usr/bin/setpriv",
    "--reuid=2000000007",
    "--regid=2000000007",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "/usr/bin/env",
    "LD_LIBRARY_PATH=/function/lib",
    "/usr/bin/node",
    "worker.js",
  ]);
  t.deepEqual(
    args.flatMap((a, i) => (a === "--cap-add" ? [args[i + 1]] : [])),
    ["CAP_SETUID", "CAP_SETGID"],
  );
});

test("not root: no uid switch and no capabilities added", (t) => {
  const args = bubblewrapArgs({ ...host, setpriv: undefined }, { ...sandbox, uid: undefined, innerEnv: {} }, [
    "/usr/bin/node",
  ]);
  t.false(args.includes("--cap-add"));
  t.deepEqual(args.slice(args.indexOf("--") + 1), ["/usr/bin/node"]);
});

test("an org's uid is the same every time, in the high range, and differs between orgs", (t) => {
  t.is(sandboxUid("acme"), sandboxUid("acme"));
  t.not(sandboxUid("acme"), sandboxUid("globex"));
  for (const org of ["default", "acme", "globex", "a".repeat(63)]) {
    const uid = sandboxUid(org);
    t.true(
      uid >= sandboxUidBase && uid < sandboxUidBase + sandboxUidSpan && uid < 2 ** 31 - 1,
      `${org}: ${uid}`,
    );
  }
});
