import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { IsolationUnavailableError, openIsolation } from "./isolation.js";

// Choosing the isolation once at start: asked for explicitly, and "auto" on a machine without bwrap
// (a search path with no bwrap stands for one).

test("bubblewrap asked for where bwrap is missing: refused with what to do", async (t) => {
  const empty = await mkdtemp(join(tmpdir(), "dispatch-no-bwrap-"));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const error = await t.throwsAsync(openIsolation({ choice: "bubblewrap", path: empty }), {
    instanceOf: IsolationUnavailableError,
  });
  t.regex(
    error?.message ?? "",
    /^--isolation bubblewrap cannot work here: bwrap is not installed; install bubblewrap \(Debian\/Ubuntu: sudo apt-get install bubblewrap.*Fix that, or start with --isolation process/,
  );
});

test("auto without bwrap: plain processes, reported with a warning and the fix", async (t) => {
  const empty = await mkdtemp(join(tmpdir(), "dispatch-no-bwrap-"));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const isolation = await openIsolation({ choice: "auto", path: empty });
  t.teardown(() => isolation.close());
  t.is(isolation.mode, "process");
  t.regex(
    isolation.summary,
    /^process: runs as this user with a private HOME and TMPDIR; .*Python: not isolated/,
  );
  t.regex(
    isolation.warning ?? "",
    /^Python functions can read what this user can.*\(bubblewrap: bwrap is not installed; install bubblewrap/,
  );
});

test("process asked for: plain processes even where bubblewrap works", async (t) => {
  const isolation = await openIsolation({ choice: "process" });
  t.teardown(() => isolation.close());
  t.is(isolation.mode, "process");
  t.regex(
    isolation.warning ?? "",
    /\(chosen with --isolation process; the default \(auto\) uses bubblewrap where it works\)$/,
  );
});

test("a function's env cannot make the processes that start its worker load or run its code", async (t) => {
  const bundle = await mkdtemp(join(tmpdir(), "dispatch-bundle-"));
  t.teardown(() => rm(bundle, { recursive: true, force: true }));
  const env = {
    LD_PRELOAD: `${bundle}/evil.so`,
    BASH_ENV: `${bundle}/evil.sh`,
    NODE_OPTIONS: "--allow-child-process",
    GREETING: "hi",
  };
  for (const choice of ["auto", "process"] as const) {
    const isolation = await openIsolation({ choice });
    t.teardown(() => isolation.close());
    for (const runtime of ["nodejs", "python3"] as const) {
      const launch = await isolation.launch({
        org: "acme",
        runtime,
        bundleDir: bundle,
        env,
        memoryBytes: 2 ** 28,
      });
      t.teardown(() => launch.cleanup());
      const what = `${isolation.mode}, ${runtime}`;
      // The shell that joins the cgroup (and bwrap, setpriv) inherit launch.env.
      t.is(launch.env.LD_PRELOAD, undefined, what);
      t.is(launch.env.BASH_ENV, undefined, what);
      t.is(launch.env.GREETING, "hi", what);
      // The worker still gets them, set by /usr/bin/env as the last step before it...
      const worker = launch.args.indexOf(
        launch.args.find((a) => a.endsWith("worker.js") || a.endsWith("worker.py")) ?? "",
      );
      const before = launch.args.slice(0, worker);
      t.true(before.includes(`BASH_ENV=${bundle}/evil.sh`), what);
      const permission =
        isolation.mode === "process" && runtime === "nodejs" && before.includes("--experimental-permission");
      // ...except a Node worker under the permission model: a preloaded library or NODE_OPTIONS would lift it.
      t.is(before.includes(`LD_PRELOAD=${bundle}/evil.so`), !permission, what);
      if (permission) t.is(launch.env.NODE_OPTIONS, undefined, what);
      const envAt = before.indexOf("/usr/bin/env");
      t.true(envAt >= 0 && before.indexOf(`BASH_ENV=${bundle}/evil.sh`) > envAt, what);
    }
  }
});
