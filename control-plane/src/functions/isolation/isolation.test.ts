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
