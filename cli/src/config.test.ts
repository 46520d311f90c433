import { mkdtemp, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import {
  type Config,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SERVER,
  describeTokenSource,
  loadConfig,
  resolveSettings,
  saveContext,
} from "./config.js";
import { UsageError } from "./errors.js";

const config: Config = {
  current: "local",
  contexts: {
    local: { server: "http://127.0.0.1:8080", token: "ctx-token", org: "default" },
    prod: { server: "https://dispatch.example.com", token: "prod-token", org: "shop" },
  },
};

test("settings: a flag beats its env var, which beats the context", (t) => {
  const env = { DISPATCH_SERVER: "http://env:1", DISPATCH_TOKEN: "env-token", DISPATCH_ORG: "env-org" };
  const flags = { server: "http://flag:1", token: "flag-token", org: "flag-org" };
  const fromFlags = resolveSettings(flags, env, config, "c.json");
  t.like(fromFlags, { server: "http://flag:1", token: "flag-token", org: "flag-org" });
  const fromEnv = resolveSettings({}, env, config, "c.json");
  t.like(fromEnv, { server: "http://env:1", token: "env-token", org: "env-org" });
  const fromContext = resolveSettings({}, {}, config, "c.json");
  t.like(fromContext, {
    server: "http://127.0.0.1:8080",
    token: "ctx-token",
    org: "default",
    contextName: "local",
  });
});

test("settings: each field falls back on its own", (t) => {
  const settings = resolveSettings({ org: "flag-org" }, { DISPATCH_TOKEN: "env-token" }, config, "c.json");
  t.like(settings, { server: "http://127.0.0.1:8080", token: "env-token", org: "flag-org" });
});

test("settings: --context beats DISPATCH_CONTEXT, which beats current", (t) => {
  t.is(
    resolveSettings({ context: "prod" }, { DISPATCH_CONTEXT: "local" }, config, "c").server,
    "https://dispatch.example.com",
  );
  t.is(resolveSettings({}, { DISPATCH_CONTEXT: "prod" }, config, "c").token, "prod-token");
});

test("settings: an unknown --context is a usage error naming the known ones", (t) => {
  const err = t.throws(() => resolveSettings({ context: "nope" }, {}, config, "c.json"), {
    instanceOf: UsageError,
  });
  t.is(err?.message, 'context "nope" is not in c.json (known: local, prod)');
});

test("settings: -o comes from the flag, then DISPATCH_OUTPUT, default table; bad values are usage errors", (t) => {
  t.is(resolveSettings({}, {}, config, "c").output, "table");
  t.is(resolveSettings({}, { DISPATCH_OUTPUT: "yaml" }, config, "c").output, "yaml");
  t.is(resolveSettings({ output: "json" }, { DISPATCH_OUTPUT: "yaml" }, config, "c").output, "json");
  t.throws(() => resolveSettings({}, { DISPATCH_OUTPUT: "xml" }, config, "c"), { instanceOf: UsageError });
});

test("settings: with no config at all the local default server is used", (t) => {
  t.like(resolveSettings({}, {}, { contexts: {} }, "c"), { server: DEFAULT_SERVER, token: "", org: "" });
});

test("config: saveContext writes mode 0600, keeps other contexts and can make the new one current", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-config-"));
  const path = join(dir, "nested", "config.json");
  await saveContext(
    "local",
    { server: "http://127.0.0.1:8080", token: "t1", org: "default" },
    { makeCurrent: false, configPath: path },
  );
  t.is((await loadConfig(path)).current, "local", "the first context becomes current");
  await saveContext("prod", { server: "https://p", token: "t2" }, { makeCurrent: false, configPath: path });
  t.is((await loadConfig(path)).current, "local");
  await saveContext("prod", { server: "https://p2", token: "t3" }, { makeCurrent: true, configPath: path });
  const saved = await loadConfig(path);
  t.deepEqual(saved, {
    current: "prod",
    contexts: {
      local: { server: "http://127.0.0.1:8080", token: "t1", org: "default" },
      prod: { server: "https://p2", token: "t3" },
    },
  });
  t.is((await stat(path)).mode & 0o777, 0o600);
  t.deepEqual(JSON.parse(await readFile(path, "utf8")), saved);
});

test("config: a missing file is an empty config; a broken one is a usage error naming it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-config-"));
  t.deepEqual(await loadConfig(join(dir, "none.json")), { contexts: {} });
  const broken = join(dir, "broken.json");
  await writeFile(broken, "{not json");
  const err = await t.throwsAsync(loadConfig(broken), { instanceOf: UsageError });
  t.regex(err?.message ?? "", /broken\.json is not valid JSON/);
  await writeFile(broken, JSON.stringify({ contexts: { a: { token: "x" } } }));
  await t.throwsAsync(loadConfig(broken), { instanceOf: UsageError, message: /context "a" has no "server"/ });
});

test("settings: the token's source is the flag, the env var, or the context with its file", (t) => {
  t.deepEqual(resolveSettings({ token: "x" }, { DISPATCH_TOKEN: "y" }, config, "c.json").tokenSource, {
    kind: "flag",
  });
  t.deepEqual(resolveSettings({}, { DISPATCH_TOKEN: "y" }, config, "c.json").tokenSource, { kind: "env" });
  t.deepEqual(resolveSettings({}, {}, config, "c.json").tokenSource, {
    kind: "context",
    context: "local",
    path: "c.json",
  });
  t.deepEqual(resolveSettings({}, {}, { contexts: {} }, "c.json").tokenSource, { kind: "none" });
  t.is(
    describeTokenSource({ kind: "context", context: "local", path: "c.json" }),
    'context "local" in c.json',
  );
});

test("settings: --request-timeout beats DISPATCH_REQUEST_TIMEOUT; 30s by default; nonsense is a usage error", (t) => {
  t.is(resolveSettings({}, {}, config, "c").requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
  t.is(resolveSettings({}, { DISPATCH_REQUEST_TIMEOUT: "2m" }, config, "c").requestTimeoutMs, 120_000);
  t.is(
    resolveSettings({ requestTimeout: "5s" }, { DISPATCH_REQUEST_TIMEOUT: "2m" }, config, "c")
      .requestTimeoutMs,
    5_000,
  );
  t.throws(() => resolveSettings({ requestTimeout: "0" }, {}, config, "c"), { instanceOf: UsageError });
  t.throws(() => resolveSettings({}, { DISPATCH_REQUEST_TIMEOUT: "later" }, config, "c"), {
    instanceOf: UsageError,
    message: /DISPATCH_REQUEST_TIMEOUT "later" is not a duration/,
  });
});
