import { createHash } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { newTokenSecret } from "@dispatch/control-plane";
import {
  EndpointService,
  FunctionService,
  LogService,
  OrganizationService,
  Role,
  RunService,
  SecretService,
  SourceService,
  SubscriptionService,
  TokenService,
  WatchEventType,
} from "@dispatch/proto";
import { startDispatch, startNats, type TestDispatch } from "@dispatch/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import anyTest, { type TestFn } from "ava";
import { client, rejects } from "./helpers.js";

const test = anyTest as TestFn<{ dispatch: TestDispatch }>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

test("a call without a token is Unauthenticated and says how to fix it", async (t) => {
  const err = await rejects(client(SecretService, t.context.dispatch.url, undefined).list({}));
  t.is(err.code, Code.Unauthenticated);
  t.regex(err.rawMessage, /Authorization: Bearer <token>/);
});

test("a wrong or revoked token is Unauthenticated", async (t) => {
  const { url, token } = t.context.dispatch;
  const wrong = await rejects(client(SecretService, url, "dsp_not-a-token").list({}));
  t.is(wrong.code, Code.Unauthenticated);
  t.regex(wrong.rawMessage, /not valid/);

  const tokens = client(TokenService, url, token);
  const { secret } = await tokens.create({ name: "short-lived", org: "default" });
  t.is((await client(SecretService, url, secret).list({})).items.length >= 0, true);
  await tokens.delete({ name: "short-lived" });
  const revoked = await rejects(client(SecretService, url, secret).list({}));
  t.is(revoked.code, Code.Unauthenticated);
});

test("orgs isolate resources: a member token cannot read another org", async (t) => {
  const { url, token } = t.context.dispatch;
  const orgs = client(OrganizationService, url, token);
  await orgs.create({ organization: { meta: { name: "acme" }, spec: { displayName: "Acme" } } });
  const admin = client(SecretService, url, token);
  await admin.create({ secret: { meta: { name: "shared-name" }, spec: { data: { who: "default" } } } });
  await admin.create({
    secret: { meta: { name: "shared-name", org: "acme" }, spec: { data: { who: "acme" } } },
  });

  const { secret, token: issued } = await client(TokenService, url, token).create({
    name: "acme-dev",
    org: "acme",
  });
  t.is(issued?.role, Role.ORG_MEMBER);
  const member = client(SecretService, url, secret);
  const own = await member.get({ name: "shared-name", reveal: true });
  t.is(own.secret?.spec?.data.who, "acme", "a member's requests default to its own org");
  t.deepEqual(
    (await member.list({})).items.map((s) => s.meta?.org),
    ["acme"],
  );

  const denied = await rejects(member.get({ org: "default", name: "shared-name" }));
  t.is(denied.code, Code.PermissionDenied);
  t.regex(denied.rawMessage, /token "acme-dev" belongs to org "acme" and cannot access org "default"/);
  const deniedCreate = await rejects(
    member.create({ secret: { meta: { name: "sneaky", org: "default" }, spec: { data: { a: "b" } } } }),
  );
  t.is(deniedCreate.code, Code.PermissionDenied);
  t.is((await rejects(admin.get({ name: "sneaky" }))).code, Code.NotFound);

  const noOrgs = await rejects(
    client(OrganizationService, url, secret).create({ organization: { meta: { name: "x" } } }),
  );
  t.is(noOrgs.code, Code.PermissionDenied);
  const noTokens = await rejects(client(TokenService, url, secret).list({}));
  t.is(noTokens.code, Code.PermissionDenied);
  t.is((await client(TokenService, url, secret).whoAmI({})).token?.org, "acme");
});

test("resources need an existing org; an org with resources cannot be deleted", async (t) => {
  const { url, token } = t.context.dispatch;
  const admin = client(SecretService, url, token);
  const missing = await rejects(admin.create({ secret: { meta: { name: "x", org: "nowhere" }, spec: {} } }));
  t.is(missing.code, Code.FailedPrecondition);
  t.regex(missing.rawMessage, /dispatch create organization nowhere/);

  const orgs = client(OrganizationService, url, token);
  await orgs.create({ organization: { meta: { name: "busy" } } });
  await admin.create({ secret: { meta: { name: "held", org: "busy" }, spec: { data: { a: "b" } } } });
  const busy = await rejects(orgs.delete({ name: "busy" }));
  t.is(busy.code, Code.FailedPrecondition);
  t.regex(busy.rawMessage, /still holds 1 secrets/);
  await admin.delete({ org: "busy", name: "held" });
  await orgs.delete({ name: "busy" });
  t.is((await rejects(orgs.get({ name: "busy" }))).code, Code.NotFound);
  t.is((await rejects(orgs.delete({ name: "default" }))).code, Code.FailedPrecondition);
});

/** A raw NATS client on the test's nats-server: what any local process could do before NATS had credentials. */
async function tokensBucket(dispatch: TestDispatch) {
  const nc = await connect(dispatch.nats.connectOptions);
  const kv = await new Kvm(jetstream(nc)).open("tokens");
  return { kv, close: () => nc.close() };
}

const sha256 = (secret: string) => createHash("sha256").update(secret).digest("hex");

test("deleting an org revokes its tokens", async (t) => {
  const { url, token } = t.context.dispatch;
  const orgs = client(OrganizationService, url, token);
  const tokens = client(TokenService, url, token);
  await orgs.create({ organization: { meta: { name: "short-org" } } });
  const { secret } = await tokens.create({ name: "short-org-ci", org: "short-org" });
  t.is((await client(TokenService, url, secret).whoAmI({})).token?.org, "short-org");

  await orgs.delete({ name: "short-org" });
  const refused = await rejects(client(TokenService, url, secret).whoAmI({}));
  t.is(refused.code, Code.Unauthenticated);
  t.false(
    (await tokens.list({})).items.some((x) => x.name === "short-org-ci"),
    "the token record is gone, not only refused",
  );
});

test("an org re-created under the same name is a new tenant: an old member token is refused, even when its record comes back", async (t) => {
  const { url, token } = t.context.dispatch;
  const orgs = client(OrganizationService, url, token);
  const tokens = client(TokenService, url, token);
  await orgs.create({ organization: { meta: { name: "phoenix" } } });
  const { secret } = await tokens.create({ name: "phoenix-dev", org: "phoenix" });
  const old = client(SecretService, url, secret);
  t.deepEqual((await old.list({})).items, []);

  // Keep the token's (validly signed) record, as a revocation that was missed would.
  const bucket = await tokensBucket(t.context.dispatch);
  try {
    const record = await bucket.kv.get("phoenix-dev");
    t.is(record?.operation, "PUT");
    await orgs.delete({ name: "phoenix" });
    await orgs.create({ organization: { meta: { name: "phoenix" } } });
    await client(SecretService, url, token).create({
      secret: { meta: { name: "new-tenant", org: "phoenix" }, spec: { data: { a: "b" } } },
    });
    await bucket.kv.put("phoenix-dev", record?.value ?? new Uint8Array());
    // A token created after the put is indexed after it (one ordered watch).
    await tokens.create({ name: "phoenix-later", org: "phoenix" });
  } finally {
    await bucket.close();
  }
  const refused = await rejects(old.list({}));
  t.is(refused.code, Code.Unauthenticated, "the old token does not read the new org");
  const admin = client(SecretService, url, token);
  await admin.delete({ org: "phoenix", name: "new-tenant" });
});

test("a token record written straight into the tokens bucket does not authenticate, and is reported without its secret", async (t) => {
  const logged: string[] = [];
  const dispatch = await startDispatch({
    controlPlane: { log: (message, error) => logged.push(`${message}: ${String(error)}`) },
  });
  try {
    const secret = "dsp_forged-secret-value-that-is-long-enough-000000000";
    const bucket = await tokensBucket(dispatch);
    try {
      const admin = await bucket.kv.get("admin");
      const signed = JSON.parse(new TextDecoder().decode(admin?.value)) as Record<string, unknown>;
      const created = new Date().toISOString();
      // Unsigned, as an older Dispatch wrote records.
      await bucket.kv.put(
        "forged-old",
        JSON.stringify({ name: "forged-old", org: "", role: "admin", sha256: sha256(secret), created }),
      );
      // Signed with a made-up MAC.
      await bucket.kv.put(
        "forged-mac",
        JSON.stringify({
          v: 2,
          name: "forged-mac",
          org: "",
          orgUid: "",
          role: "admin",
          sha256: sha256(secret),
          created,
          mac: "A".repeat(43),
        }),
      );
      // The admin's real record and MAC, with the attacker's hash.
      await bucket.kv.put(
        "admin-copy",
        JSON.stringify({ ...signed, name: "admin-copy", sha256: sha256(secret) }),
      );
      // A role that does not exist.
      await bucket.kv.put("forged-role", JSON.stringify({ ...signed, name: "forged-role", role: "root" }));
    } finally {
      await bucket.close();
    }
    // Indexed after the forged records (one ordered watch), so they have been seen.
    await client(TokenService, dispatch.url, dispatch.token).create({ name: "later", org: "default" });

    const refused = await rejects(client(TokenService, dispatch.url, secret).whoAmI({}));
    t.is(refused.code, Code.Unauthenticated);
    t.is((await client(TokenService, dispatch.url, dispatch.token).whoAmI({})).token?.name, "admin");
    const listed = (await client(TokenService, dispatch.url, dispatch.token).list({})).items.map(
      (x) => x.name,
    );
    t.deepEqual(listed, ["admin", "later"], "ignored records are not listed as tokens");
    for (const name of ["forged-old", "forged-mac", "admin-copy", "forged-role"]) {
      const lines = logged.filter((l) => l.includes(`token "${name}"`));
      t.is(lines.length, 1, `one line about ${name}: ${logged.join("\n")}`);
      t.regex(lines[0] ?? "", /ignored: .*re-create it/);
    }
    t.false(
      logged.some((l) => l.includes(secret) || l.includes(dispatch.token)),
      "no secret is logged",
    );
  } finally {
    await dispatch.stop();
  }
});

test("after an upgrade the bootstrap admin token is re-signed; other unsigned tokens stop working and are reported", async (t) => {
  const nats = await startNats();
  const logged: string[] = [];
  try {
    const token = newTokenSecret();
    const member = newTokenSecret();
    const nc = await connect(nats.connectOptions);
    try {
      const kv = await new Kvm(jetstream(nc)).create("tokens", { history: 1 });
      const created = new Date().toISOString();
      await kv.put(
        "admin",
        JSON.stringify({ name: "admin", org: "", role: "admin", sha256: sha256(token), created }),
      );
      await kv.put(
        "ci",
        JSON.stringify({ name: "ci", org: "default", role: "member", sha256: sha256(member), created }),
      );
    } finally {
      await nc.close();
    }
    const dispatch = await startDispatch({
      nats,
      token,
      controlPlane: { log: (message, error) => logged.push(`${message}: ${String(error)}`) },
    });
    try {
      t.is((await client(TokenService, dispatch.url, token).whoAmI({})).token?.name, "admin");
      t.is((await rejects(client(TokenService, dispatch.url, member).whoAmI({}))).code, Code.Unauthenticated);
      t.false(
        logged.some((l) => l.includes('token "admin"')),
        "the re-signed admin token is not reported",
      );
      const ci = logged.filter((l) => l.includes('token "ci"'));
      t.is(ci.length, 1);
      t.regex(ci[0] ?? "", /older Dispatch.*dispatch delete token ci.*dispatch create token ci/);
      // The operator's fix works: delete the old record, issue the token again.
      const tokens = client(TokenService, dispatch.url, token);
      await tokens.delete({ name: "ci" });
      const { secret } = await tokens.create({ name: "ci", org: "default" });
      t.is((await client(TokenService, dispatch.url, secret).whoAmI({})).token?.name, "ci");
    } finally {
      await dispatch.stop();
    }
  } finally {
    await nats.stop();
  }
});

test("members see only their own org: Get, List and Watch of organizations", async (t) => {
  const { url, token } = t.context.dispatch;
  const orgs = client(OrganizationService, url, token);
  await orgs.create({ organization: { meta: { name: "seen" } } });
  await orgs.create({ organization: { meta: { name: "unseen" } } });
  const { secret } = await client(TokenService, url, token).create({ name: "seen-dev", org: "seen" });
  const member = client(OrganizationService, url, secret);

  t.deepEqual(
    (await member.list({})).items.map((o) => o.meta?.name),
    ["seen"],
  );
  t.is((await member.get({ name: "seen" })).organization?.meta?.name, "seen");
  for (const name of ["unseen", "default"]) {
    const denied = await rejects(member.get({ name }));
    t.is(denied.code, Code.PermissionDenied, name);
    t.regex(denied.rawMessage, /belongs to org "seen" and cannot read organization/);
    const watchDenied = await rejects(first(member.watch({ name }, { signal: AbortSignal.timeout(60_000) })));
    t.is(watchDenied.code, Code.PermissionDenied);
  }
  const names: string[] = [];
  for await (const event of member.watch({}, { signal: AbortSignal.timeout(60_000) })) {
    if (event.type === WatchEventType.SYNCED) break;
    names.push(event.object?.meta?.name ?? "");
  }
  t.deepEqual(names, ["seen"], "a member's watch sends its own org only");
  t.true((await orgs.list({})).items.length >= 3, "admins still see every org");
});

/** The first message of a stream (or its error). */
async function first<T>(stream: AsyncIterable<T>): Promise<T | undefined> {
  for await (const message of stream) return message;
  return undefined;
}

const hostileOrgs = ["*", ">", "a.b", "a b", "x".repeat(200), "default.*", "$KV"];

test("hostile org values get InvalidArgument on every verb, never Internal or another org's data", async (t) => {
  const { url, token } = t.context.dispatch;
  const { secret: memberSecret } = await client(TokenService, url, token).create({
    name: "hostile-member",
    org: "default",
  });
  const { secret: componentSecret } = await client(TokenService, url, token).create({
    name: "hostile-component",
    role: Role.COMPONENT,
  });
  const signal = () => AbortSignal.timeout(60_000);
  for (const caller of [token, memberSecret, componentSecret]) {
    const who = caller === token ? "admin" : caller === memberSecret ? "member" : "component";
    for (const org of hostileOrgs) {
      const calls: Record<string, () => Promise<unknown>> = {};
      const resources = [
        ["Function", FunctionService, "function"],
        ["Endpoint", EndpointService, "endpoint"],
        ["Subscription", SubscriptionService, "subscription"],
        ["Secret", SecretService, "secret"],
        ["Organization", OrganizationService, "organization"],
      ] as const;
      for (const [kind, service, field] of resources) {
        const api = client(service as typeof SecretService, url, caller) as unknown as Record<
          string,
          (request: object, options?: object) => unknown
        >;
        const call = (verb: string, request: object) => api[verb]?.(request) as Promise<unknown>;
        calls[`${kind}.Get`] = () => call("get", { org, name: "x" });
        calls[`${kind}.List`] = () => call("list", { org });
        calls[`${kind}.Delete`] = () => call("delete", { org, name: "x" });
        calls[`${kind}.Watch`] = () =>
          first(api.watch?.({ org }, { signal: signal() }) as AsyncIterable<unknown>);
        calls[`${kind}.Create`] = () => call("create", { [field]: { meta: { name: "x", org }, spec: {} } });
        calls[`${kind}.Update`] = () => call("update", { [field]: { meta: { name: "x", org }, spec: {} } });
        calls[`${kind}.UpdateStatus`] = () =>
          call("updateStatus", { [field]: { meta: { name: "x", org, revision: 1n }, status: {} } });
      }
      const runs = client(RunService, url, caller);
      calls["Run.Create"] = () => runs.create({ run: { meta: { org }, spec: { function: "x" } } });
      calls["Run.Get"] = () => runs.get({ org, function: "x", name: "00000000-0000-0000-0000-000000000000" });
      calls["Run.List"] = () => runs.list({ org });
      calls["Run.Watch"] = () => first(runs.watch({ org }, { signal: signal() }));
      calls["Log.Tail"] = () =>
        first(client(LogService, url, caller).tail({ org, function: "x" }, { signal: signal() }));
      calls["Source.Upload"] = () =>
        client(SourceService, url, caller).upload({
          org,
          format: "file",
          filename: "a.js",
          data: new Uint8Array([1]),
        });
      calls["Token.Create"] = () => client(TokenService, url, caller).create({ name: "x", org });
      for (const [name, call] of Object.entries(calls)) {
        const err = await rejects(call());
        const label = `${who} ${name} with org ${JSON.stringify(org.slice(0, 20))}`;
        if (name === "Token.Create" && who !== "admin") {
          t.is(err.code, Code.PermissionDenied, label);
          continue;
        }
        t.is(err.code, Code.InvalidArgument, `${label}: ${err.message}`);
        t.regex(err.rawMessage, /org/, label);
      }
    }
  }
});
