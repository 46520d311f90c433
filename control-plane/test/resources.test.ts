import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  EndpointService,
  FunctionService,
  OrganizationService,
  Phase,
  SecretSchema,
  SecretService,
  SubscriptionService,
} from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { functionClients, uploadFile } from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";

const test = anyTest as TestFn<{ dispatch: TestDispatch }>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

const secrets = (t: { context: { dispatch: TestDispatch } }) =>
  client(SecretService, t.context.dispatch.url, t.context.dispatch.token);

test("secrets: create, get hides values, reveal shows them, list, update, delete", async (t) => {
  const api = secrets(t);
  const created = await api.create({
    secret: {
      meta: { name: "open-sesame", tags: { app: "demo" } },
      spec: { data: { password: "OpenSesame" } },
    },
  });
  t.is(created.secret?.meta?.org, "default");
  t.is(created.secret?.status?.phase, Phase.READY);
  t.true((created.secret?.meta?.revision ?? 0n) > 0n);
  t.deepEqual(created.secret?.spec?.data, {}, "values are hidden unless asked for");
  t.deepEqual(created.secret?.keys, ["password"]);

  const hidden = await api.get({ name: "open-sesame" });
  t.deepEqual(hidden.secret?.spec?.data, {});
  const revealed = await api.get({ name: "open-sesame", reveal: true });
  t.is(revealed.secret?.spec?.data.password, "OpenSesame");

  const listed = await api.list({ options: { tags: { app: "demo" } } });
  t.deepEqual(
    listed.items.map((s) => s.meta?.name),
    ["open-sesame"],
  );

  const updated = await api.update({
    secret: { meta: { name: "open-sesame" }, spec: { data: { password: "OpenSesameStreet" } } },
  });
  t.is(updated.secret?.meta?.generation, 2n);
  t.is(updated.secret?.meta?.uid, created.secret?.meta?.uid);
  t.is(
    (await api.get({ name: "open-sesame", reveal: true })).secret?.spec?.data.password,
    "OpenSesameStreet",
  );

  await api.delete({ name: "open-sesame" });
  const gone = await rejects(api.get({ name: "open-sesame" }));
  t.is(gone.code, Code.NotFound);
  t.regex(gone.rawMessage, /secret "open-sesame" not found in org "default"/);
});

test("validation: every violation is reported at once and nothing is written", async (t) => {
  const api = secrets(t);
  const err = await rejects(
    api.create({ secret: { meta: { name: "Bad_Name" }, spec: { data: { "bad key!": "x", good: "y" } } } }),
  );
  t.is(err.code, Code.InvalidArgument);
  t.regex(err.rawMessage, /meta\.name: "Bad_Name" is not a valid name/);
  t.regex(err.rawMessage, /spec\.data\.bad key!: is not a valid key/);
  t.regex(err.rawMessage, /e\.g\. "bad-name"/, "the message suggests a valid name");
  t.is((await api.list({})).items.filter((s) => s.meta?.name.toLowerCase() === "bad_name").length, 0);

  const fn = client(FunctionService, t.context.dispatch.url, t.context.dispatch.token);
  const fnErr = await rejects(
    fn.create({
      function: {
        meta: { name: "hello" },
        spec: { runtime: "node", env: { "1BAD": "x" }, scale: { min: 3, max: 1 } },
      },
    }),
  );
  t.is(fnErr.code, Code.InvalidArgument);
  t.regex(fnErr.rawMessage, /spec\.runtime: "node" is not supported \(use nodejs or python3\)/);
  t.regex(fnErr.rawMessage, /spec\.env\.1BAD/);
  t.regex(fnErr.rawMessage, /spec\.scale\.min: is 3, more than spec\.scale\.max \(1\)/);
  // (Other tests of this file create functions of their own, side by side.)
  t.is((await fn.list({})).items.filter((f) => f.meta?.name === "hello").length, 0);

  const ep = client(EndpointService, t.context.dispatch.url, t.context.dispatch.token);
  const epErr = await rejects(
    ep.create({ endpoint: { meta: { name: "api" }, spec: { paths: ["hello"], methods: ["FETCH"] } } }),
  );
  t.regex(epErr.rawMessage, /spec\.function: is required/);
  t.regex(epErr.rawMessage, /spec\.paths\[0\]: "hello" must start with "\/"/);
  t.regex(epErr.rawMessage, /spec\.methods\[0\]: "FETCH" is not an HTTP method/);

  const missing = await rejects(api.create({}));
  t.is(missing.code, Code.InvalidArgument);
  t.regex(missing.rawMessage, /the request has no secret/);
});

test("duplicates get AlreadyExists; a name can be reused after delete", async (t) => {
  // A subscription names a function that exists.
  const fns = functionClients(t.context.dispatch);
  const source = await uploadFile(fns, "handle-order.js", "module.exports = async () => null;\n");
  await fns.functions.create({
    function: { meta: { name: "handle-order" }, spec: { runtime: "nodejs", source } },
  });
  const api = client(SubscriptionService, t.context.dispatch.url, t.context.dispatch.token);
  const sub = {
    meta: { name: "orders" },
    spec: {
      function: "handle-order",
      filters: [{ dialect: { case: "prefix" as const, value: { attributes: { type: "com.shop." } } } }],
    },
  };
  const first = await api.create({ subscription: sub });
  t.is(first.subscription?.status?.phase, Phase.INITIALIZED);
  const dup = await rejects(api.create({ subscription: sub }));
  t.is(dup.code, Code.AlreadyExists);
  t.regex(dup.rawMessage, /subscription "orders" in org "default" already exists/);
  await api.delete({ name: "orders" });
  const again = await api.create({ subscription: sub });
  t.not(again.subscription?.meta?.uid, first.subscription?.meta?.uid, "a re-created object gets a new uid");
});

test("optimistic concurrency: a stale revision is Aborted and changes nothing", async (t) => {
  const api = secrets(t);
  const v1 = await api.create({ secret: { meta: { name: "occ" }, spec: { data: { a: "1" } } } });
  const revision = v1.secret?.meta?.revision ?? 0n;
  await api.update({ secret: { meta: { name: "occ", revision }, spec: { data: { a: "2" } } } });
  const stale = await rejects(
    api.update({ secret: { meta: { name: "occ", revision }, spec: { data: { a: "3" } } } }),
  );
  t.is(stale.code, Code.Aborted);
  t.regex(stale.rawMessage, /changed by someone else: you sent revision \d+, the current one is \d+/);
  t.is((await api.get({ name: "occ", reveal: true })).secret?.spec?.data.a, "2");
  const staleDelete = await rejects(api.delete({ name: "occ", revision }));
  t.is(staleDelete.code, Code.Aborted);
  t.truthy((await api.get({ name: "occ" })).secret);
});

test("an update that does not change the spec keeps the generation", async (t) => {
  const api = secrets(t);
  await api.create({ secret: { meta: { name: "same" }, spec: { data: { a: "1" } } } });
  const again = await api.update({
    secret: { meta: { name: "same", tags: { x: "y" } }, spec: { data: { a: "1" } } },
  });
  t.is(again.secret?.meta?.generation, 1n);
  t.deepEqual(again.secret?.meta?.tags, { x: "y" });
});

test("list filters by tags and pages through results", async (t) => {
  const api = secrets(t);
  for (const name of ["page-a", "page-b", "page-c"]) {
    await api.create({ secret: { meta: { name, tags: { group: "paging" } }, spec: { data: { k: name } } } });
  }
  const first = await api.list({ options: { tags: { group: "paging" }, pageSize: 2 } });
  t.deepEqual(
    first.items.map((s) => s.meta?.name),
    ["page-a", "page-b"],
  );
  t.is(first.nextPageToken, "page-b");
  const second = await api.list({
    options: { tags: { group: "paging" }, pageSize: 2, pageToken: first.nextPageToken },
  });
  t.deepEqual(
    second.items.map((s) => s.meta?.name),
    ["page-c"],
  );
  t.is(second.nextPageToken, "");
});

test("secrets are encrypted at rest", async (t) => {
  const api = secrets(t);
  await api.create({
    secret: { meta: { name: "at-rest" }, spec: { data: { token: "plain-text-marker-1234" } } },
  });
  const { jetstream } = await import("@nats-io/jetstream");
  const { Kvm } = await import("@nats-io/kv");
  const kv = await new Kvm(jetstream(t.context.dispatch.controlPlane.nats)).open("secrets");
  const entry = await kv.get("default.at-rest");
  t.truthy(entry);
  t.false(
    Buffer.from(entry?.value ?? [])
      .toString("latin1")
      .includes("plain-text-marker-1234"),
  );
  t.false(
    Buffer.from(entry?.value ?? [])
      .toString("latin1")
      .includes("at-rest"),
  );
  t.truthy(create(SecretSchema));
});

test("server-set fields a client sends are ignored on Create and Update: meta, status and output-only fields", async (t) => {
  const api = secrets(t);
  const forged = {
    meta: {
      name: "server-owned",
      uid: "forged-uid",
      generation: 99n,
      created: { seconds: 1n },
      modified: { seconds: 1n },
    },
    spec: { data: { real: "value" } },
    status: { phase: Phase.ERROR, reason: ["forged"], observedGeneration: 99n },
    keys: ["forged-key"],
  };
  const created = (await api.create({ secret: forged })).secret;
  t.not(created?.meta?.uid, "forged-uid");
  t.is(created?.meta?.generation, 1n);
  t.not(created?.meta?.created?.seconds, 1n);
  t.is(created?.status?.phase, Phase.READY);
  t.deepEqual(created?.status?.reason, []);
  t.deepEqual(created?.keys, ["real"]);

  const updated = (
    await api.update({
      secret: { ...forged, meta: { ...forged.meta, revision: 0n }, spec: { data: { real: "changed" } } },
    })
  ).secret;
  t.is(updated?.meta?.uid, created?.meta?.uid, "the uid stays the server's");
  t.is(updated?.meta?.generation, 2n);
  t.is(updated?.status?.phase, Phase.READY);
  t.deepEqual(updated?.status?.reason, []);
  const read = (await api.get({ name: "server-owned", reveal: true })).secret;
  t.deepEqual(read?.keys, ["real"]);
  t.deepEqual(read?.spec?.data, { real: "changed" });
  await api.delete({ name: "server-owned" });
});

test("List bounds the page size and pages through everything with next_page_token", async (t) => {
  const dispatch = await startDispatch({ controlPlane: { pageSize: { default: 2, max: 3 } } });
  try {
    const api = client(SecretService, dispatch.url, dispatch.token);
    const names = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"];
    for (const name of names) await api.create({ secret: { meta: { name }, spec: { data: { k: name } } } });
    const big = await api.list({ options: { pageSize: 1000 } });
    t.is(big.items.length, 3, "a page never holds more than the server's maximum");
    t.not(big.nextPageToken, "");
    const byDefault = await api.list({});
    t.is(byDefault.items.length, 2, "page_size 0 means the server's default");
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await api.list({ options: { pageSize: 1000, pageToken } });
      seen.push(...page.items.map((s) => s.meta?.name ?? ""));
      pageToken = page.nextPageToken;
    } while (pageToken);
    t.deepEqual(seen, names, "every object once, in order");
  } finally {
    await dispatch.stop();
  }
});

test("quota: an org's subscriptions are bounded (the next is refused, saying why), updates still work, other orgs are not counted", async (t) => {
  const small = await startDispatch({ controlPlane: { maxSubscriptionsPerOrg: 2 } });
  t.teardown(() => small.stop());
  await client(OrganizationService, small.url, small.token).create({
    organization: { meta: { name: "other" } },
  });
  const fns = functionClients(small);
  for (const org of ["default", "other"]) {
    const { source } = await fns.sources.upload({
      org,
      format: "file",
      filename: "h.js",
      data: new TextEncoder().encode("module.exports = async () => null;\n"),
    });
    await fns.functions.create({
      function: { meta: { name: "h", org }, spec: { runtime: "nodejs", source } },
    });
  }
  const api = client(SubscriptionService, small.url, small.token);
  const sub = (name: string, type: string, org = "default") => ({
    subscription: {
      meta: { name, org },
      spec: {
        function: "h",
        filters: [{ dialect: { case: "exact" as const, value: { attributes: { type } } } }],
      },
    },
  });
  await api.create(sub("one", "a"));
  await api.create(sub("two", "b"));
  const err = await rejects(api.create(sub("three", "c")));
  t.is(err.code, Code.InvalidArgument);
  t.regex(err.rawMessage, /org "default" has 2 subscriptions, the most it may have/);
  t.is((await api.list({})).items.length, 2, "nothing was stored");
  const updated = await api.update(sub("two", "b2"));
  t.is(updated.subscription?.meta?.name, "two", "an update of one that exists is not counted twice");
  await api.create(sub("three", "c", "other"));
  t.is((await api.list({ org: "other" })).items.length, 1, "another org has a quota of its own");
});
