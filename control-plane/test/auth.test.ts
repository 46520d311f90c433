import { Code } from "@connectrpc/connect";
import { OrganizationService, Role, SecretService, TokenService } from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
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
