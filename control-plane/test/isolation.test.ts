import { mkdir, mkdtemp, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { ErrorType, Phase, ResourcesSchema, SystemService } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type ExecutionContext, type TestFn } from "ava";
import { deploy, exec, functionClients, outputOf, settled, until } from "./functions-helpers.js";
import { client } from "./helpers.js";

// Functions are untrusted code (issue 7, items 1, 3 and 4): what a hostile function can reach,
// against real control planes with real workers in the isolation this machine offers, and in
// plain processes ("process") for what that mode still promises.

interface Installation {
  dispatch: TestDispatch;
  api: ReturnType<typeof functionClients>;
  /** A data dir as `dispatch up` lays it out: admin.token, secret.key, work/ (bundles), a CLI config. */
  dataDir: string;
  mode: string;
  summary: string;
}

const test = anyTest as TestFn<{ auto: Installation; plain: Installation }>;

async function install(isolation: "auto" | "process"): Promise<Installation> {
  const dataDir = await mkdtemp(join(tmpdir(), "dispatch-isolation-"));
  await writeFile(join(dataDir, "admin.token"), "ADMIN-TOKEN-SECRET\n", { mode: 0o600 });
  await writeFile(join(dataDir, "secret.key"), "SECRET-KEY-SECRET\n", { mode: 0o600 });
  await mkdir(join(dataDir, "home", ".dispatch"), { recursive: true });
  await writeFile(join(dataDir, "home", ".dispatch", "config.json"), '{"token": "CLI-CONFIG-SECRET"}\n', {
    mode: 0o600,
  });
  const dispatch = await startDispatch({ controlPlane: { workDir: join(dataDir, "work"), isolation } });
  const status = await client(SystemService, dispatch.url, dispatch.token).getStatus({});
  const component = status.components.find((c) => c.name === "isolation");
  return {
    dispatch,
    api: functionClients(dispatch),
    dataDir,
    mode: status.urls.isolation ?? "",
    summary: component?.message ?? "",
  };
}

test.before(async (t) => {
  [t.context.auto, t.context.plain] = await Promise.all([install("auto"), install("process")]);
});
test.after.always(async (t) => {
  await Promise.all([t.context.auto?.dispatch.stop(), t.context.plain?.dispatch.stop()]);
});

/** Everything a hostile function tries to read; none of it may come back. */
async function targets(at: Installation, victimFile: string): Promise<string[]> {
  return [
    join(at.dataDir, "admin.token"),
    join(at.dataDir, "secret.key"),
    join(at.dataDir, "home", ".dispatch", "config.json"),
    victimFile,
    `/proc/${process.pid}/environ`,
    `/proc/${process.pid}/cmdline`,
    // The worker's working directory is a bundle under <data>/work/bundles/<digest>/.
    "../../../admin.token",
    "../../../secret.key",
  ];
}

const hostile = {
  nodejs: `import { readFileSync, writeFileSync } from "node:fs";
export default async (context, { paths, pid, writeTo }) => {
  const reads = {};
  for (const path of paths) {
    try { reads[path] = "READ " + readFileSync(path, "utf8").slice(0, 40); } catch (err) { reads[path] = "denied " + err.code; }
  }
  let signal;
  try { process.kill(pid, 0); signal = "SIGNALLED"; } catch (err) { signal = "denied " + err.code; }
  let write;
  try { writeFileSync(writeTo, "x"); write = "WROTE"; } catch (err) { write = "denied " + err.code; }
  return { reads, signal, write, tokenInEnv: "DISPATCH_WORKER_TOKEN" in process.env, home: process.env.HOME };
};
`,
  python3: `import os

def handle(context, payload):
    reads = {}
    for path in payload["paths"]:
        try:
            with open(path) as f:
                reads[path] = "READ " + f.read()[:40]
        except OSError as err:
            reads[path] = "denied " + type(err).__name__
    try:
        os.kill(payload["pid"], 0)
        signal = "SIGNALLED"
    except OSError as err:
        signal = "denied " + type(err).__name__
    try:
        with open(payload["writeTo"], "w") as f:
            f.write("x")
        write = "WROTE"
    except OSError as err:
        write = "denied " + type(err).__name__
    return {"reads": reads, "signal": signal, "write": write,
            "tokenInEnv": "DISPATCH_WORKER_TOKEN" in os.environ, "home": os.environ.get("HOME")}
`,
};

interface Attempts {
  reads: Record<string, string>;
  signal: string;
  write: string;
  tokenInEnv: boolean;
  home: string;
}

/** Deploys a victim and a hostile function, lets the hostile one try, and returns what it got. */
async function attack(
  at: Installation,
  runtime: "nodejs" | "python3",
  suffix: string,
): Promise<{ attempts: Attempts; paths: string[] }> {
  const victim = `victim-${suffix}`;
  await deploy(at.api, victim, `${victim}.js`, 'export default async () => "VICTIM-CODE-SECRET";\n');
  const bundles = join(at.dataDir, "work", "bundles");
  const entry = (await readdir(bundles)).find((name) => name.endsWith(`-${victim}.js`));
  const paths = await targets(at, join(bundles, entry ?? "missing", `${victim}.js`));
  const name = `hostile-${suffix}`;
  const file = runtime === "nodejs" ? `${name}.js` : `${name.replaceAll("-", "_")}.py`;
  const fn = await deploy(at.api, name, file, hostile[runtime]);
  const run = await exec(at.api, name, {
    paths,
    pid: process.pid,
    writeTo: join(at.dataDir, "work", "planted"),
  });
  if (run.status?.phase !== Phase.READY) {
    throw new Error(`the hostile function did not run: ${fn.status?.reason} ${run.status?.error?.message}`);
  }
  return { attempts: outputOf(run) as unknown as Attempts, paths };
}

function assertHeld(t: ExecutionContext, { attempts, paths }: { attempts: Attempts; paths: string[] }) {
  for (const path of paths) {
    t.regex(attempts.reads[path] ?? "", /^denied /, `reading ${path}`);
  }
  t.regex(attempts.signal, /^denied /, "signalling the control plane");
  t.regex(attempts.write, /^denied /, "writing into the data directory");
  t.false(attempts.tokenInEnv, "the worker's credential is not in the handler's environment");
  t.not(attempts.home, process.env.HOME, "HOME is not the operator's");
}

for (const runtime of ["nodejs", "python3"] as const) {
  test(`${runtime}: a hostile function cannot read the data dir, the CLI config, another bundle or the control plane's environment, nor signal it`, async (t) => {
    const at = t.context.auto;
    if (at.mode !== "bubblewrap") {
      // Without bubblewrap only Node functions are held (below); the operator was warned.
      t.regex(at.summary, /WARNING: (Python )?functions can read what this user can/);
      return;
    }
    assertHeld(t, await attack(at, runtime, `${runtime}-bwrap`));
  });
}

test("process isolation: a hostile Node function is held by the permission model; status warns that Python is not", async (t) => {
  const at = t.context.plain;
  t.is(at.mode, "process");
  t.regex(at.summary, /WARNING: (Python )?functions can read what this user can, the data directory/);
  if (!/permission model \(reads only/.test(at.summary)) return t.log("this Node has no permission model");
  assertHeld(t, await attack(at, "nodejs", "node-plain"));
});

test("status says which isolation is in force", async (t) => {
  const { auto } = t.context;
  t.true(["bubblewrap", "process"].includes(auto.mode), auto.mode);
  if (auto.mode === "bubblewrap") {
    t.regex(
      auto.summary,
      /^bubblewrap: own namespaces; sees only system files, its runtime and bundle \(read-only\) and a private \/tmp; .*network shared with the host$/,
    );
    t.notRegex(auto.summary, /WARNING/);
  }
});

for (const runtime of ["nodejs", "python3"] as const) {
  test(`${runtime}: a call straight to a worker's port without the instance's credential is refused and runs nothing`, async (t) => {
    const { api } = t.context.auto;
    const name = `counter-${runtime}`;
    const code =
      runtime === "nodejs"
        ? "let calls = 0;\nexport default async () => ++calls;\n"
        : "calls = 0\n\ndef handle(context, payload):\n    global calls\n    calls += 1\n    return calls\n";
    const fn = await deploy(api, name, runtime === "nodejs" ? "counter.js" : "counter.py", code, {
      scale: { min: 1, max: 1 },
    });
    const url = fn.status?.endpoints[0];
    if (!url) return t.fail("no endpoint in status");
    for (const headers of [
      {},
      { "dispatch-worker-token": "guessed" },
      { "dispatch-token": t.context.auto.dispatch.token },
    ]) {
      for (const path of ["/invoke", "/http/x", "/event"]) {
        const answer = await fetch(`${url}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: JSON.stringify({ payload: null }),
        });
        t.is(answer.status, 401, `${path} with ${JSON.stringify(Object.keys(headers))}`);
      }
    }
    t.is((await fetch(`${url}/healthz`)).status, 200, "the readiness probe needs no credential");
    t.is(outputOf(await exec(api, name, {})), 1, "none of the refused calls reached the handler");
  });
}

test("a memory hog is stopped, its run and its function say out of memory, and another function keeps serving", async (t) => {
  const { api, summary } = t.context.auto;
  const cgroups = /\(cgroup v[12]\)/.test(summary);
  await deploy(api, "steady", "steady.js", "export default async (c, p) => p;\n", { scale: { min: 1 } });
  const hogs: Array<[string, string, string]> = [
    // The JS heap fills: V8 stops at --max-old-space-size.
    [
      "heap-hog",
      "heap_hog.js",
      "export default async () => { const a = []; for (;;) a.push(new Array(1e5).fill(1.5)); };\n",
    ],
    // One allocation far past the limit: RLIMIT_AS makes it a MemoryError.
    ["python-big", "python_big.py", "def handle(context, payload):\n    return len(bytearray(64 << 30))\n"],
  ];
  if (cgroups) {
    // Memory outside the JS heap and step by step in Python: only a cgroup stops these.
    hogs.push(
      [
        "buffer-hog",
        "buffer_hog.js",
        "export default async () => { const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1)); };\n",
      ],
      [
        "python-hog",
        "python_hog.py",
        "def handle(context, payload):\n    a = []\n    while True:\n        a.append(bytearray(1 << 20))\n",
      ],
    );
  } else {
    t.log(`no cgroups here (${summary}): only the heap flag and RLIMIT_AS are tried`);
  }
  for (const [name, file, code] of hogs) {
    await deploy(api, name, file, code, { resources: { memory: "128Mi" } });
    const [hog, other] = await Promise.all([exec(api, name, {}), exec(api, "steady", { still: name })]);
    t.is(hog.status?.phase, Phase.ERROR, name);
    t.regex(hog.status?.error?.message ?? "", /out of memory \(limit 128Mi\)/, name);
    t.deepEqual(outputOf(other), { still: name }, `another function served while ${name} ran`);
    if (name !== "python-big") {
      t.is(hog.status?.error?.type, ErrorType.SYSTEM_ERROR, name);
      const crashed = await until(api, name, (f) =>
        (f.status?.reason ?? []).some((r) => r.includes("crashed")),
      );
      t.regex(crashed.status?.reason.join(" ") ?? "", /crashed \(out of memory \(limit 128Mi\)\)/, name);
    }
  }
  t.deepEqual(outputOf(await exec(api, "steady", 7)), 7);
});

test("a memory limit that is not a quantity, or out of bounds, is refused with what to use", async (t) => {
  const { api } = t.context.auto;
  for (const [memory, message] of [
    ["lots", /spec\.resources\.memory: "lots" is not a quantity \(use a number with a unit, e\.g\. 128Mi/],
    ["1Mi", /spec\.resources\.memory: is 1Mi; it must be from 64Mi to 32Gi/],
  ] as const) {
    const error = await t.throwsAsync(
      deploy(api, `bad-memory-${memory.toLowerCase()}`, "m.js", "export default () => 1;\n", {
        resources: { memory },
      }),
    );
    t.regex(error?.message ?? "", message);
  }
});

/** Host pids of the processes in the pid namespace `ns` ("pid:[4026532177]"). */
async function processesIn(ns: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const link = await readlink(`/proc/${entry}/ns/pid`).catch(() => "");
    if (link === ns) found.push(Number(entry));
  }
  return found;
}

/** Whether a process runs (a zombie waiting to be reaped does not). */
async function running(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return status !== "" && !/^State:\s+Z/m.test(status);
}

/** Waits until none of `pids` runs; the instance's stop is not an event a test can watch. */
async function allGone(pids: number[]): Promise<boolean> {
  for (;;) {
    const left = [];
    for (const pid of pids) if (await running(pid)) left.push(pid);
    if (left.length === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const daemonizes = {
  // A double fork into a session of its own: the child's parent exits, so it is nobody's child.
  nodejs: `import { execFileSync } from "node:child_process";
import { readlinkSync } from "node:fs";
export default async () => ({
  child: Number(execFileSync("/bin/sh", ["-c", "setsid /bin/sh -c 'sleep 300 > /dev/null 2>&1 & echo $!' < /dev/null"]).toString()),
  ns: readlinkSync("/proc/self/ns/pid"),
});
`,
  python3: `import os
import subprocess

def handle(context, payload):
    out = subprocess.run(["/bin/sh", "-c", "setsid /bin/sh -c 'sleep 300 > /dev/null 2>&1 & echo $!' < /dev/null"],
                         capture_output=True, text=True, timeout=30).stdout
    return {"child": int(out), "ns": os.readlink("/proc/self/ns/pid")}
`,
};

for (const [which, runtime] of [
  ["auto", "nodejs"],
  ["auto", "python3"],
  ["plain", "python3"],
] as const) {
  test(`${which === "auto" ? "default isolation" : "process isolation"}, ${runtime}: a function's detached child dies with its instance`, async (t) => {
    const at = t.context[which];
    if (at.mode === "process" && !/\(cgroup v[12]\)/.test(at.summary)) {
      // Without cgroups a child in a session of its own escapes a plain process's group.
      t.regex(at.summary, /no cgroups/);
      return;
    }
    const name = `daemon-${which}-${runtime}`;
    await deploy(at.api, name, runtime === "nodejs" ? "daemon.js" : "daemon.py", daemonizes[runtime]);
    const run = await exec(at.api, name, {});
    if (at.mode === "process" && runtime === "nodejs" && /Node: permission model/.test(at.summary)) {
      // Without a sandbox, Node's permission model refuses child processes outright.
      t.is(run.status?.phase, Phase.ERROR);
      t.regex(run.status?.error?.message ?? "", /Access to this API has been restricted/);
      return;
    }
    t.is(run.status?.phase, Phase.READY, run.status?.error?.message);
    const { child, ns } = outputOf(run) as { child: number; ns: string };
    const own = await readlink("/proc/self/ns/pid");
    // In a pid namespace of its own the child's pid means nothing here: find its processes by namespace.
    const pids = ns === own ? [child] : await processesIn(ns);
    t.true(pids.length >= (ns === own ? 1 : 3), `the worker and the child run (${pids})`);
    for (const pid of pids) t.true(await running(pid), `pid ${pid} runs before the stop`);
    await at.api.functions.delete({ name });
    t.true(await allGone(pids), "nothing of the instance is left");
  });
}

test("an update of resources.memory starts a new revision with the new limit", async (t) => {
  const { api } = t.context.auto;
  // About 200 MB of heap: more than 128Mi allows, well within 512Mi.
  const code = "export default async () => new Array(25e6).fill(1.5).length;\n";
  await deploy(api, "grows", "grows.js", code, { resources: { memory: "128Mi" } });
  const small = await exec(api, "grows", {});
  t.regex(small.status?.error?.message ?? "", /out of memory \(limit 128Mi\)/);
  const current = (await api.functions.get({ name: "grows" })).function;
  if (!current?.spec) return t.fail();
  current.spec.resources = create(ResourcesSchema, { memory: "512Mi" });
  await api.functions.update({ function: current });
  const fn = await settled(api, "grows");
  t.is(fn.status?.phase, Phase.READY);
  t.is(fn.status?.observedGeneration, 2n);
  const large = await exec(api, "grows", {});
  t.is(large.status?.phase, Phase.READY, large.status?.error?.message);
  t.is(outputOf(large), 25e6);
});

test("a function's env reaches its worker, the loader's variables too, in its sandbox", async (t) => {
  const { api } = t.context.auto;
  const code =
    "export default async () => ({ greeting: process.env.GREETING, libs: process.env.LD_LIBRARY_PATH, tmp: process.env.TMPDIR });\n";
  await deploy(api, "with-env", "with_env.js", code, {
    env: { GREETING: "hi", LD_LIBRARY_PATH: "/function/lib" },
  });
  const run = await exec(api, "with-env", {});
  t.is(run.status?.phase, Phase.READY, run.status?.error?.message);
  const out = outputOf(run) as { greeting: string; libs: string; tmp: string };
  t.is(out.greeting, "hi");
  if (t.context.auto.mode === "bubblewrap") t.is(out.libs, "/function/lib");
  // Without a sandbox a Node worker runs under the permission model, and a library the
  // loader injected would run below it: the loader's variables are dropped.
  else t.is(out.libs as string | undefined, undefined);
  t.truthy(out.tmp);
});
