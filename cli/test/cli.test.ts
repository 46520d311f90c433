import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ConditionStatus, EndpointService, Phase, WatchEventType } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { parse, parseAllDocuments } from "yaml";

// The real `dispatch` binary against a real control plane and nats-server.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

interface Context {
  dispatch: TestDispatch;
  dir: string;
}
const test = anyTest as TestFn<Context>;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
  t.context.dir = await mkdtemp(join(tmpdir(), "dispatch-cli-"));
});

test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

/** Runs the binary; the control plane lives in this process, so never block. */
function dispatch(
  t: { context: Context },
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdin?: string } = {},
): Promise<Result> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: t.context.dir,
    DISPATCH_CONFIG: join(t.context.dir, "config.json"),
    DISPATCH_SERVER: t.context.dispatch.url,
    DISPATCH_TOKEN: t.context.dispatch.token,
    ...options.env,
  };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { env, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.stdin ?? "");
  });
}

async function file(t: { context: Context }, name: string, text: string): Promise<string> {
  const path = join(t.context.dir, name);
  await writeFile(path, text);
  return path;
}

test("secrets: create, list as a table, show as json and yaml, update, delete", async (t) => {
  const created = await dispatch(t, ["create", "secret", "open-sesame", "--from-literal", "password=s3cret"]);
  t.is(created.code, 0, created.stderr);
  t.is(created.stdout, "secret/open-sesame created\n");

  const table = await dispatch(t, ["get", "secrets"]);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /^NAME\s+KEYS\s+STATUS\s+AGE\n/);
  t.regex(table.stdout, /\nopen-sesame\s+password\s+\S+\s+\d+s\n/);
  t.false(table.stdout.includes("s3cret"), "tables never show values");

  const hidden = JSON.parse((await dispatch(t, ["get", "secret", "open-sesame", "-o", "json"])).stdout);
  t.is(hidden.kind, "Secret");
  t.is(hidden.meta.name, "open-sesame");
  t.deepEqual(hidden.keys, ["password"]);
  t.is(hidden.spec?.data, undefined, "values only with --reveal");

  const revealed = await dispatch(t, ["get", "secret", "open-sesame", "--reveal", "-o", "yaml"]);
  t.is(revealed.code, 0, revealed.stderr);
  t.deepEqual(parse(revealed.stdout).spec.data, { password: "s3cret" });

  const json = await file(t, "open-sesame.json", JSON.stringify({ password: "n3w", user: "ali" }));
  const updated = await dispatch(t, ["update", "secret", "open-sesame", json]);
  t.is(updated.code, 0, updated.stderr);
  t.is(updated.stdout, "secret/open-sesame configured\n");
  const after = JSON.parse(
    (await dispatch(t, ["get", "secret", "open-sesame", "--reveal", "-o", "json"])).stdout,
  );
  t.deepEqual(after.spec.data, { password: "n3w", user: "ali" });

  const list = JSON.parse((await dispatch(t, ["get", "secrets", "-o", "json"])).stdout);
  t.true(list.items.some((s: { meta: { name: string } }) => s.meta.name === "open-sesame"));

  const deleted = await dispatch(t, ["delete", "secret", "open-sesame"]);
  t.is(deleted.code, 0, deleted.stderr);
  t.is(deleted.stdout, "secret/open-sesame deleted\n");
  const gone = await dispatch(t, ["get", "secret", "open-sesame"]);
  t.is(gone.code, 1);
  t.is(gone.stderr, 'error: secret "open-sesame" not found in org "default"\n');
});

const seed = `kind: Secret
meta:
  name: seed-db
  tags: {team: core}
spec:
  data: {password: hunter2}
---
kind: Function
meta: {name: seed-hello}
spec:
  runtime: nodejs
  handler: hello.js
  scale: {min: 0, max: 2}
---
kind: API
name: seed-hello
spec:
  function: seed-hello
  methods: [GET]
  paths: [/seed-hello]
  auth: {public: true}
---
kind: Subscription
meta: {name: seed-ticks}
spec:
  function: seed-hello
  filters:
    - exact: {attributes: {type: ticker.tick}}
`;

test("apply: creates, then leaves matching objects unchanged, then configures what changed; delete -f removes all", async (t) => {
  const path = await file(t, "seed.yaml", seed);
  const first = await dispatch(t, ["apply", "-f", path]);
  t.is(first.code, 0, first.stderr);
  t.is(
    first.stdout,
    "secret/seed-db created\nfunction/seed-hello created\nendpoint/seed-hello created\nsubscription/seed-ticks created\n",
  );

  const before = JSON.parse((await dispatch(t, ["get", "fn", "seed-hello", "-o", "json"])).stdout);
  const second = await dispatch(t, ["apply", "-f", path]);
  t.is(second.code, 0, second.stderr);
  t.is(
    second.stdout,
    "secret/seed-db unchanged\nfunction/seed-hello unchanged\nendpoint/seed-hello unchanged\nsubscription/seed-ticks unchanged\n",
  );
  const after = JSON.parse((await dispatch(t, ["get", "fn", "seed-hello", "-o", "json"])).stdout);
  t.is(after.meta.revision, before.meta.revision, "unchanged objects are not written");

  await writeFile(path, seed.replace("hunter2", "hunter3").replace("max: 2", "max: 4"));
  const third = await dispatch(t, ["apply", "-f", path]);
  t.is(third.code, 0, third.stderr);
  t.is(
    third.stdout,
    "secret/seed-db configured\nfunction/seed-hello configured\nendpoint/seed-hello unchanged\nsubscription/seed-ticks unchanged\n",
  );
  const fn = JSON.parse((await dispatch(t, ["get", "fn", "seed-hello", "-o", "json"])).stdout);
  t.is(fn.spec.scale.max, 4);

  const removed = await dispatch(t, ["delete", "-f", path]);
  t.is(removed.code, 0, removed.stderr);
  t.is(
    removed.stdout,
    "subscription/seed-ticks deleted\nendpoint/seed-hello deleted\nfunction/seed-hello deleted\nsecret/seed-db deleted\n",
  );
  const none = await dispatch(t, ["get", "fn", "seed-hello"]);
  t.is(none.code, 1);
});

test("apply: get -o yaml output applies back unchanged, for one object and for a list", async (t) => {
  t.is((await dispatch(t, ["create", "secret", "round-trip", "--from-literal", "k=v"])).code, 0);
  const one = await dispatch(t, ["get", "secret", "round-trip", "--reveal", "-o", "yaml"]);
  const applied = await dispatch(t, ["apply", "-f", "-"], { stdin: one.stdout });
  t.is(applied.code, 0, applied.stderr);
  t.is(applied.stdout, "secret/round-trip unchanged\n");

  const list = await dispatch(t, ["get", "orgs", "-o", "yaml"]);
  const again = await dispatch(t, ["apply", "-f", "-"], { stdin: list.stdout });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, /^organization\/default unchanged\n/);

  // Without --reveal the values are missing: applying that would empty the secret.
  const hidden = await dispatch(t, ["get", "secret", "round-trip", "-o", "yaml"]);
  const refused = await dispatch(t, ["apply", "-f", "-"], { stdin: hidden.stdout });
  t.is(refused.code, 2);
  t.regex(refused.stderr, /no values in spec\.data: it was printed without --reveal/);
});

test("apply -o json prints the resulting objects", async (t) => {
  const path = await file(t, "org.yaml", "kind: Organization\nname: printed\nspec: {displayName: Printed}\n");
  const result = await dispatch(t, ["apply", "-f", path, "-o", "json"]);
  t.is(result.code, 0, result.stderr);
  const out = JSON.parse(result.stdout);
  t.is(out.kind, "Organization");
  t.is(out.spec.displayName, "Printed");
});

test("bad input exits 2 and changes nothing on the server", async (t) => {
  const cases: [string, RegExp][] = [
    ["kind: Secret\nname: bad-a\n---\nkind: Widget\nname: w\n", /document 2, line 4: unknown kind "Widget"/],
    ["kind: Secret\nname: bad-b\n---\nkind: Secret\nmeta: {name: x\n", /document 2, line \d+, column \d+: /],
    [
      "kind: Secret\nname: bad-c\n---\nkind: Function\nname: f\nspec:\n  runtimee: nodejs\n",
      /document 2, line 7: Function "f": unknown field "spec.runtimee"/,
    ],
    ["kind: Secret\nname: Bad_D\n", /name "Bad_D" is not valid/],
  ];
  for (const [text, message] of cases) {
    const result = await dispatch(t, ["apply", "-f", "-"], { stdin: text });
    t.is(result.code, 2, text);
    t.regex(result.stderr, message);
    t.is(result.stdout, "");
  }
  const secrets = JSON.parse((await dispatch(t, ["get", "secrets", "-o", "json"])).stdout);
  const names = secrets.items.map((s: { meta: { name: string } }) => s.meta.name);
  t.false(
    names.some((n: string) => n.startsWith("bad-")),
    "the valid documents were not applied either",
  );

  for (const args of [
    ["get", "widgets"],
    ["get", "secrets", "--bogus"],
    ["-o", "xml", "get", "secrets"],
    ["nope"],
  ]) {
    const result = await dispatch(t, args);
    t.is(result.code, 2, args.join(" "));
  }
  const unknownKind = await dispatch(t, ["get", "widgets"]);
  t.regex(
    unknownKind.stderr,
    /unknown kind "widgets" \(known kinds: functions \(fn, fns\), endpoints \(api, apis\)/,
  );
  const badFile = await dispatch(t, ["create", "secret", "bad-e", "-"], { stdin: '{"n": 1}' });
  t.is(badFile.code, 2);
  t.regex(badFile.stderr, /the value of "n" is a number; secret values must be strings/);
});

test("server-side validation prints each violation on its own line", async (t) => {
  const result = await dispatch(t, ["create", "secret", "Not_Valid"]);
  t.is(result.code, 1);
  t.regex(result.stderr, /^error: secret "Not_Valid" is invalid:\n {2}- meta\.name: /);
});

test("without a token the server's message and how to set one are printed", async (t) => {
  const result = await dispatch(t, ["get", "secrets"], { env: { DISPATCH_TOKEN: undefined } });
  t.is(result.code, 1);
  t.regex(result.stderr, /^error: .*token/);
  t.regex(result.stderr, /no token is configured: pass --token, set DISPATCH_TOKEN/);
  const wrong = await dispatch(t, ["get", "secrets", "--token", "not-a-token"]);
  t.is(wrong.code, 1);
  t.regex(wrong.stderr, /^error: /);
});

test("an unreachable server is reported with how to start Dispatch", async (t) => {
  const result = await dispatch(t, ["get", "secrets"], { env: { DISPATCH_SERVER: "http://127.0.0.1:9" } });
  t.is(result.code, 1);
  t.regex(
    result.stderr,
    /^error: cannot reach Dispatch at http:\/\/127\.0\.0\.1:9: is it running\? Start it with "dispatch up"/,
  );
});

test("status -o json prints exactly the component URLs", async (t) => {
  const result = await dispatch(t, ["status", "-o", "json"]);
  t.is(result.code, 0, result.stderr);
  const urls = JSON.parse(result.stdout);
  t.true(Object.keys(urls).includes("api"));
  t.is(urls.api, t.context.dispatch.url);
  t.true(
    Object.values(urls).every((u) => typeof u === "string"),
    "only the component → URL map",
  );
  const table = await dispatch(t, ["status"]);
  t.regex(table.stdout, /COMPONENT\s+URL\s+HEALTH/);
});

test("version prints the client and the server version", async (t) => {
  const result = await dispatch(t, ["version"]);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^Client: \d+\.\d+\.\d+\nServer: \S+/);
});

test("tokens: create prints the secret once; the new token works and whoami names it", async (t) => {
  const created = await dispatch(t, ["create", "token", "ci-bot", "--org", "default"]);
  t.is(created.code, 0, created.stderr);
  const secret = created.stdout.trim();
  t.regex(created.stderr, /token\/ci-bot created \(ORG_MEMBER in org "default"\)/);
  const who = await dispatch(t, ["whoami", "-o", "json"], { env: { DISPATCH_TOKEN: secret } });
  t.is(who.code, 0, who.stderr);
  t.like(JSON.parse(who.stdout), { kind: "Token", name: "ci-bot", org: "default", role: "ROLE_ORG_MEMBER" });
  const tokens = await dispatch(t, ["get", "tokens"]);
  t.regex(tokens.stdout, /\nci-bot\s+default\s+ORG_MEMBER\s/);
  t.false(tokens.stdout.includes(secret));
  t.is((await dispatch(t, ["delete", "token", "ci-bot"])).code, 0);
});

test("tokens: --role component makes a component token, listed with its role; it reads every org and may not create", async (t) => {
  const created = await dispatch(t, ["create", "token", "edge-proxy", "--role", "component"]);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stderr, /token\/edge-proxy created \(COMPONENT in every org\)/);
  const secret = created.stdout.trim();
  const tokens = await dispatch(t, ["get", "tokens"]);
  t.regex(tokens.stdout, /\nedge-proxy\s+\*\s+COMPONENT\s/);
  const who = await dispatch(t, ["whoami", "-o", "json"], { env: { DISPATCH_TOKEN: secret } });
  t.like(JSON.parse(who.stdout), { kind: "Token", name: "edge-proxy", role: "ROLE_COMPONENT" });
  const read = await dispatch(t, ["get", "secrets"], { env: { DISPATCH_TOKEN: secret } });
  t.is(read.code, 0, read.stderr);
  const write = await dispatch(t, ["create", "secret", "from-component", "--from-literal", "a=b"], {
    env: { DISPATCH_TOKEN: secret },
  });
  t.is(write.code, 1);
  t.regex(write.stderr, /is a component token and may not create secrets/);

  const admin = await dispatch(t, ["create", "token", "ops-2", "--role", "admin", "-o", "json"]);
  t.is(admin.code, 0, admin.stderr);
  t.like(JSON.parse(admin.stdout), { kind: "Token", name: "ops-2", org: undefined, role: "ROLE_ADMIN" });
  const unknown = await dispatch(t, ["create", "token", "x", "--role", "root"]);
  t.is(unknown.code, 2, "a usage error");
  t.regex(unknown.stderr, /'root' is invalid. Allowed choices are member, admin, component/);
  const disagree = await dispatch(t, ["create", "token", "y", "--admin", "--role", "component"]);
  t.is(disagree.code, 2, "a usage error");
  t.regex(disagree.stderr, /--admin and --role component disagree/);
  const names = (await dispatch(t, ["get", "tokens", "-o", "json"])).stdout;
  t.false(/"name": "(x|y)"/.test(names), "nothing was created by the refused commands");
  for (const name of ["edge-proxy", "ops-2"]) t.is((await dispatch(t, ["delete", "token", name])).code, 0);
});

test("--wait on an endpoint returns once a component writes READY through UpdateStatus", async (t) => {
  const path = await file(
    t,
    "waited-api.yaml",
    "kind: API\nname: waited-api\nspec: {function: seed-hello, paths: [/waited]}\n",
  );
  const component = await dispatch(t, ["create", "token", "gateway-1", "--role", "component"]);
  t.is(component.code, 0, component.stderr);
  const { url } = t.context.dispatch;
  const endpoints = createClient(
    EndpointService,
    createConnectTransport({
      baseUrl: url,
      httpVersion: "1.1",
      interceptors: [
        (next) => async (req) => {
          req.header.set("authorization", `Bearer ${component.stdout.trim()}`);
          return await next(req);
        },
      ],
    }),
  );
  const abort = new AbortController();
  // The component: as soon as the endpoint exists, it reports it programmed.
  const reporting = (async () => {
    for await (const event of endpoints.watch({ name: "waited-api" }, { signal: abort.signal })) {
      const object = event.object;
      if (event.type !== WatchEventType.ADDED || !object?.meta) continue;
      await endpoints.updateStatus({
        endpoint: {
          meta: { name: "waited-api", revision: object.meta.revision },
          status: {
            phase: Phase.READY,
            observedGeneration: object.meta.generation,
            conditions: [{ type: "Programmed", status: ConditionStatus.TRUE, reason: "Accepted" }],
          },
        },
      });
      return;
    }
  })();
  try {
    const waited = await dispatch(t, ["create", "-f", path, "--wait", "--timeout", "2m"]);
    t.is(waited.code, 0, waited.stderr);
    t.is(waited.stdout, "endpoint/waited-api created\n");
    t.regex(waited.stderr, /endpoint\/waited-api ready\n$/);
    await reporting;
  } finally {
    abort.abort();
    await reporting.catch(() => undefined);
  }
});

test("--wait follows the object with Watch until it is READY", async (t) => {
  const result = await dispatch(t, [
    "create",
    "secret",
    "waited",
    "--from-literal",
    "a=b",
    "--wait",
    "--timeout",
    "30s",
  ]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, "secret/waited created\n");
  t.regex(result.stderr, /secret\/waited ready\n$/);
});

test("delete: a missing object fails, unless --ignore-not-found", async (t) => {
  const missing = await dispatch(t, ["delete", "secret", "never-was"]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /not found/);
  const ignored = await dispatch(t, ["delete", "secret", "never-was", "--ignore-not-found"]);
  t.is(ignored.code, 0, ignored.stderr);
});

test("contexts: a saved context supplies server and token; a flag still wins", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-ctx-"));
  const env = {
    DISPATCH_CONFIG: join(dir, "config.json"),
    DISPATCH_SERVER: undefined,
    DISPATCH_TOKEN: undefined,
  };
  const { url, token } = t.context.dispatch;
  const set = await dispatch(t, ["context", "set", "it", "--server", url, "--token", token], { env });
  t.is(set.code, 0, set.stderr);
  const orgs = await dispatch(t, ["get", "orgs", "-o", "yaml"], { env });
  t.is(orgs.code, 0, orgs.stderr);
  t.true(parseAllDocuments(orgs.stdout).length === 1);
  const overridden = await dispatch(t, ["get", "orgs", "--server", "http://127.0.0.1:9"], { env });
  t.regex(overridden.stderr, /cannot reach Dispatch at http:\/\/127\.0\.0\.1:9/);
});

test("create of an object that exists says how to change it instead, for every kind", async (t) => {
  const cases: [string[], string][] = [
    [
      ["create", "secret", "twin", "--from-literal", "a=b"],
      'error: secret "twin" in org "default" already exists; replace its data with ' +
        '"dispatch update secret twin --from-literal KEY=VALUE" (or FILE.json)\n',
    ],
    [
      ["create", "organization", "twin-org"],
      'error: organization "twin-org" already exists; change it with ' +
        '"dispatch update organization twin-org --display-name TEXT --description TEXT"\n',
    ],
    [
      ["create", "token", "twin-token"],
      'error: token "twin-token" already exists; tokens cannot be changed: pick another name, ' +
        'or revoke it first with "dispatch delete token twin-token"\n',
    ],
  ];
  for (const [args, message] of cases) {
    t.is((await dispatch(t, args)).code, 0, args.join(" "));
    const again = await dispatch(t, args);
    t.is(again.code, 1, args.join(" "));
    t.is(again.stdout, "");
    t.is(again.stderr, message);
  }
  const manifest = await file(t, "twin.yaml", "kind: Secret\nname: twin-m\nspec: {data: {a: b}}\n");
  t.is((await dispatch(t, ["create", "-f", manifest])).code, 0);
  const again = await dispatch(t, ["create", "-f", manifest]);
  t.is(again.code, 1);
  t.is(
    again.stderr,
    `error: secret "twin-m" in org "default" already exists; change it with "dispatch apply -f ${manifest}"\n`,
  );
});

test("endpoints from flags: create with defaults, update keeps what no flag names, get shows hosts and served paths", async (t) => {
  const created = await dispatch(t, ["create", "endpoint", "greeter", "hello", "--method", "get", "--cors"]);
  t.is(created.code, 0, created.stderr);
  t.is(created.stdout, "endpoint/greeter created\n");
  const shown = parse((await dispatch(t, ["get", "endpoint", "greeter", "-o", "yaml"])).stdout);
  t.like(shown.spec, {
    function: "hello",
    methods: ["GET"],
    paths: ["/greeter"],
    cors: { allowOrigins: ["*"] },
  });

  const updated = await dispatch(t, [
    "update",
    "endpoint",
    "greeter",
    "--path",
    "/hi",
    "--path",
    "/hello/*",
    "--host",
    "api.example.com",
    "--rate-limit",
    "100/s",
    "--timeout",
    "10s",
    "--retries",
    "2",
    "--https-only",
  ]);
  t.is(updated.code, 0, updated.stderr);
  t.is(updated.stdout, "endpoint/greeter configured\n");
  const after = parse((await dispatch(t, ["get", "endpoint", "greeter", "-o", "yaml"])).stdout);
  t.like(after.spec, {
    function: "hello",
    methods: ["GET"],
    paths: ["/hi", "/hello/*"],
    hosts: ["api.example.com"],
    cors: { allowOrigins: ["*"] },
    httpsOnly: true,
    timeout: "10s",
    retries: { attempts: 2 },
    rateLimit: { requests: 100, per: "1s" },
  });
  const table = await dispatch(t, ["get", "endpoints"]);
  t.regex(table.stdout, /NAME\s+FUNCTION\s+METHODS\s+HOSTS\s+PATHS/);
  t.regex(table.stdout, /greeter\s+hello\s+GET\s+api\.example\.com\s+\/hi,\s*\/hello\/\*/);

  const split = await dispatch(t, [
    "update",
    "api",
    "greeter",
    "--backend",
    "hello=90",
    "--backend",
    "hello-next=10",
    "--no-cors",
  ]);
  t.is(split.code, 0, split.stderr);
  const splitted = parse((await dispatch(t, ["get", "endpoint", "greeter", "-o", "yaml"])).stdout);
  t.deepEqual(splitted.spec.backends, [
    { function: "hello", weight: 90 },
    { function: "hello-next", weight: 10 },
  ]);
  t.is(splitted.spec.function, undefined);
  t.is(splitted.spec.cors, undefined);
});

test("endpoints from flags: an update without --cors or --https-only leaves both off", async (t) => {
  t.is((await dispatch(t, ["create", "endpoint", "plain", "hello", "--path", "/plain"])).code, 0);
  const moved = await dispatch(t, ["update", "endpoint", "plain", "--path", "/plain-moved"]);
  t.is(moved.code, 0, moved.stderr);
  const after = parse((await dispatch(t, ["get", "endpoint", "plain", "-o", "yaml"])).stdout);
  t.deepEqual(after.spec.paths, ["/plain-moved"]);
  t.is(after.spec.cors, undefined);
  t.is(after.spec.httpsOnly, undefined);
  const nothing = await dispatch(t, ["update", "endpoint", "plain"]);
  t.is(nothing.code, 2);
  t.regex(nothing.stderr, /nothing to change/);
});

test("endpoints from flags: a route another endpoint serves, a bad regex and mixed auth flags are refused, and nothing changes", async (t) => {
  t.is((await dispatch(t, ["create", "endpoint", "owner", "hello", "--path", "/owned"])).code, 0);
  const conflict = await dispatch(t, [
    "create",
    "endpoint",
    "squatter",
    "hello",
    "--path",
    "/owned",
    "--method",
    "POST",
  ]);
  t.not(conflict.code, 0);
  t.regex(conflict.stderr, /POST, any host, path \/owned is already served by endpoint "owner"/);
  const regex = await dispatch(t, ["create", "api", "lookahead", "hello", "--path", "~^/(?=x)"]);
  t.not(regex.code, 0);
  t.regex(regex.stderr, /spec\.paths\[0\]: .*cannot be used: .*RE2/);
  const mixed = await dispatch(t, [
    "create",
    "endpoint",
    "mixed",
    "hello",
    "--auth",
    "token",
    "--jwt-issuer",
    "x",
  ]);
  t.is(mixed.code, 2);
  t.regex(mixed.stderr, /--jwt-issuer, --jwks-url, --jwks-file and --jwt-audience go with --auth jwt/);
  const rate = await dispatch(t, ["create", "endpoint", "rated", "hello", "--rate-limit", "lots"]);
  t.is(rate.code, 2);
  t.regex(rate.stderr, /use REQUESTS\/DURATION, e\.g\. 100\/s/);
  const none = await dispatch(t, ["create", "endpoint", "nobody"]);
  t.is(none.code, 2);
  t.regex(none.stderr, /name the FUNCTION that answers, or give --backend/);
  const names = (await dispatch(t, ["get", "endpoints", "-o", "json"])).stdout;
  for (const name of ["squatter", "lookahead", "mixed", "rated", "nobody"])
    t.notRegex(names, new RegExp(`"${name}"`));
});

test("endpoints from flags: --auth jwt with a JWKS file keeps the set on the endpoint", async (t) => {
  const jwks = await file(
    t,
    "jwks.json",
    JSON.stringify({
      keys: [{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }],
    }),
  );
  const made = await dispatch(t, [
    "create",
    "endpoint",
    "guarded",
    "hello",
    "--path",
    "/guarded",
    "--auth",
    "jwt",
    "--jwt-issuer",
    "https://id.example.com",
    "--jwks-file",
    jwks,
    "--jwt-audience",
    "shop",
  ]);
  t.is(made.code, 0, made.stderr);
  const shown = parse((await dispatch(t, ["get", "endpoint", "guarded", "-o", "yaml"])).stdout);
  t.is(shown.spec.auth.jwt.issuer, "https://id.example.com");
  t.deepEqual(JSON.parse(shown.spec.auth.jwt.jwks).keys[0].kty, "OKP");
  t.deepEqual(shown.spec.auth.jwt.audiences, ["shop"]);
  const broken = await file(t, "broken.json", '{"keys": []}');
  const refused = await dispatch(t, ["update", "endpoint", "guarded", "--jwks-file", broken]);
  t.not(refused.code, 0);
  t.regex(refused.stderr, /spec\.auth\.jwt\.jwks: must be a JSON Web Key Set/);
});
