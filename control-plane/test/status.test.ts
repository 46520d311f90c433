import { Code } from "@connectrpc/connect";
import {
  ConditionStatus,
  type Endpoint,
  EndpointService,
  FunctionService,
  LogService,
  OrganizationService,
  Phase,
  Role,
  RunService,
  SecretService,
  SourceService,
  SubscriptionService,
  TokenService,
  WatchEventType,
} from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type ExecutionContext, type TestFn } from "ava";
import { client, rejects } from "./helpers.js";

/**
 * UpdateStatus (the status subresource) and the component role: who may
 * write status, how (compare-and-set, conditions per Kubernetes
 * conventions), and what a component token may not do.
 */
const test = anyTest as TestFn<{ dispatch: TestDispatch; component: string; member: string }>;

test.before(async (t) => {
  const dispatch = await startDispatch();
  const tokens = client(TokenService, dispatch.url, dispatch.token);
  const component = await tokens.create({ name: "xds-server", role: Role.COMPONENT });
  const member = await tokens.create({ name: "dev", org: "default" });
  t.context = { dispatch, component: component.secret, member: member.secret };
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

type Ctx = ExecutionContext<{ dispatch: TestDispatch; component: string; member: string }>;
const endpoints = (t: Ctx, token = t.context.dispatch.token) =>
  client(EndpointService, t.context.dispatch.url, token);

async function newEndpoint(t: Ctx, name: string): Promise<Endpoint> {
  const created = await endpoints(t).create({
    endpoint: { meta: { name, tags: { app: "demo" } }, spec: { function: "hello", paths: [`/${name}`] } },
  });
  if (!created.endpoint) throw new Error("no endpoint");
  return created.endpoint;
}

const ready = (message = "Envoy ACKed the route") => ({
  phase: Phase.READY,
  observedGeneration: 1n,
  conditions: [{ type: "Programmed", status: ConditionStatus.TRUE, reason: "Accepted", message }],
});

test("UpdateStatus writes the status and nothing else: spec, meta and generation stay; a watch sees it", async (t) => {
  const before = await newEndpoint(t, "status-only");
  t.is(before.status?.phase, Phase.INITIALIZED);
  const watch = endpoints(t, t.context.component).watch(
    { name: "status-only", resumeRevision: before.meta?.revision ?? 0n },
    { signal: AbortSignal.timeout(60_000) },
  );
  const written = await endpoints(t, t.context.component).updateStatus({
    endpoint: {
      // Spec, tags and generation sent along are ignored.
      meta: { name: "status-only", revision: before.meta?.revision ?? 0n, generation: 9n, tags: { x: "y" } },
      spec: { function: "other", paths: ["/other"] },
      status: ready(),
    },
  });
  const after = written.endpoint;
  t.is(after?.status?.phase, Phase.READY);
  t.is(after?.status?.conditions[0]?.type, "Programmed");
  t.true((after?.meta?.revision ?? 0n) > (before.meta?.revision ?? 0n));
  t.is(after?.meta?.generation, 1n, "a status write never bumps the generation");
  t.deepEqual(after?.meta?.tags, { app: "demo" });
  t.deepEqual(after?.meta?.modified, before.meta?.modified);
  t.is(after?.meta?.uid, before.meta?.uid);
  t.deepEqual(after?.spec, before.spec);

  const read = (await endpoints(t).get({ name: "status-only" })).endpoint;
  t.is(read?.status?.phase, Phase.READY);
  t.is(read?.meta?.generation, 1n);
  t.deepEqual(read?.spec?.paths, ["/status-only"]);
  for await (const event of watch) {
    if (event.type === WatchEventType.SYNCED) continue;
    t.is(event.type, WatchEventType.MODIFIED);
    t.is(event.object?.status?.phase, Phase.READY);
    t.is(event.revision, after?.meta?.revision ?? 0n);
    break;
  }
});

test("UpdateStatus is compare-and-set: a stale revision is Aborted and changes nothing; a missing one is refused", async (t) => {
  const created = await newEndpoint(t, "status-cas");
  const read = created.meta?.revision ?? 0n;
  // Someone else changes the object after the component read it.
  await endpoints(t).update({
    endpoint: { meta: { name: "status-cas" }, spec: { function: "hello", paths: ["/moved"] } },
  });
  const stale = await rejects(
    endpoints(t, t.context.component).updateStatus({
      endpoint: { meta: { name: "status-cas", revision: read }, status: ready() },
    }),
  );
  t.is(stale.code, Code.Aborted);
  t.regex(
    stale.rawMessage,
    /^the status of endpoint "status-cas" in org "default" was not written: the endpoint changed after revision \d+ \(it is at \d+ now\); read it again/,
  );
  t.not((await endpoints(t).get({ name: "status-cas" })).endpoint?.status?.phase, Phase.READY);

  const missing = await rejects(
    endpoints(t, t.context.component).updateStatus({
      endpoint: { meta: { name: "status-cas" }, status: ready() },
    }),
  );
  t.is(missing.code, Code.InvalidArgument);
  t.regex(missing.rawMessage, /meta\.revision: is required/);

  const current = (await endpoints(t).get({ name: "status-cas" })).endpoint;
  const fresh = await endpoints(t, t.context.component).updateStatus({
    endpoint: {
      meta: { name: "status-cas", revision: current?.meta?.revision ?? 0n },
      status: { ...ready(), observedGeneration: 2n },
    },
  });
  t.is(fresh.endpoint?.status?.phase, Phase.READY, "with the revision just read, the write goes through");
  t.is(fresh.endpoint?.status?.observedGeneration, 2n);
});

test("observed_generation above the generation and conditions against the conventions are refused, all at once", async (t) => {
  const created = await newEndpoint(t, "status-invalid");
  const bad = await rejects(
    endpoints(t, t.context.component).updateStatus({
      endpoint: {
        meta: { name: "status-invalid", revision: created.meta?.revision ?? 0n },
        status: {
          phase: Phase.UNSPECIFIED,
          observedGeneration: 2n,
          conditions: [
            { type: "", status: ConditionStatus.TRUE, reason: "Accepted" },
            { type: "Programmed", status: ConditionStatus.TRUE, reason: "not camel" },
            { type: "Programmed", status: ConditionStatus.UNSPECIFIED, reason: "" },
          ],
        },
      },
    }),
  );
  t.is(bad.code, Code.InvalidArgument);
  const lines = bad.rawMessage.split("\n");
  t.is(lines[0], 'the status of endpoint "status-invalid" in org "default" is invalid:');
  t.deepEqual(
    lines.slice(1).map((l) => l.slice(0, l.indexOf(":"))),
    [
      "- status.phase",
      "- status.observed_generation",
      "- status.conditions[0].type",
      "- status.conditions[1].reason",
      "- status.conditions[2].type",
      "- status.conditions[2].status",
      "- status.conditions[2].reason",
    ],
  );
  t.regex(bad.rawMessage, /observed_generation: is 2, above the object's generation 1/);
  t.regex(bad.rawMessage, /conditions\[2\]\.type: "Programmed" appears twice/);
  t.regex(bad.rawMessage, /conditions\[1\]\.reason: "not camel" is not CamelCase/);
  const read = (await endpoints(t).get({ name: "status-invalid" })).endpoint;
  t.is(read?.status?.phase, Phase.INITIALIZED, "nothing was written");
  t.is(read?.meta?.revision, created.meta?.revision);
});

test("last_transition: set by the server, kept while a condition's status stays, set again when it changes", async (t) => {
  const created = await newEndpoint(t, "status-transitions");
  const forged = { seconds: 1n, nanos: 0 };
  const write = async (revision: bigint, status: ConditionStatus, message: string) =>
    (
      await endpoints(t, t.context.component).updateStatus({
        endpoint: {
          meta: { name: "status-transitions", revision },
          status: {
            phase: Phase.READY,
            observedGeneration: 1n,
            conditions: [
              { type: "Programmed", status, reason: "Accepted", message, lastTransition: forged },
              { type: "Ready", status: ConditionStatus.TRUE, reason: "Ready", lastTransition: forged },
            ],
          },
        },
      })
    ).endpoint;
  const first = await write(created.meta?.revision ?? 0n, ConditionStatus.UNKNOWN, "waiting for Envoy");
  const firstAt = first?.status?.conditions[0]?.lastTransition;
  t.truthy(firstAt);
  t.true((firstAt?.seconds ?? 0n) > 1_000_000_000n, "the server's clock, not the client's value");

  const second = await write(first?.meta?.revision ?? 0n, ConditionStatus.UNKNOWN, "still waiting");
  t.deepEqual(second?.status?.conditions[0]?.lastTransition, firstAt, "same status: the time is kept");
  t.is(second?.status?.conditions[0]?.message, "still waiting", "the message is the new one");
  t.deepEqual(second?.status?.conditions[1]?.lastTransition, first?.status?.conditions[1]?.lastTransition);

  const third = await write(second?.meta?.revision ?? 0n, ConditionStatus.TRUE, "ACKed");
  const thirdAt = third?.status?.conditions[0]?.lastTransition;
  t.true(
    (thirdAt?.seconds ?? 0n) * 1_000_000_000n + BigInt(thirdAt?.nanos ?? 0) >=
      (firstAt?.seconds ?? 0n) * 1_000_000_000n + BigInt(firstAt?.nanos ?? 0),
  );
  t.notDeepEqual(thirdAt, forged, "a changed status gets the server's time");
  t.deepEqual(
    third?.status?.conditions[1]?.lastTransition,
    first?.status?.conditions[1]?.lastTransition,
    "the condition that did not change keeps its time",
  );
});

test("Update never touches status: a status sent with it is ignored, a written status survives a tags-only update", async (t) => {
  const created = await newEndpoint(t, "status-update");
  const withStatus = await endpoints(t, t.context.component).updateStatus({
    endpoint: { meta: { name: "status-update", revision: created.meta?.revision ?? 0n }, status: ready() },
  });
  const updated = await endpoints(t).update({
    endpoint: {
      meta: { name: "status-update", tags: { app: "demo", v: "2" } },
      spec: created.spec,
      status: { phase: Phase.ERROR, reason: ["forged"], observedGeneration: 7n },
    },
  });
  t.is(updated.endpoint?.meta?.generation, 1n);
  t.deepEqual(updated.endpoint?.status, withStatus.endpoint?.status, "the component's status stays");
  t.deepEqual(updated.endpoint?.meta?.tags, { app: "demo", v: "2" });
});

test("roles: admin and component tokens may write status; a member may not, and is told which token can", async (t) => {
  const created = await newEndpoint(t, "status-roles");
  const denied = await rejects(
    endpoints(t, t.context.member).updateStatus({
      endpoint: { meta: { name: "status-roles", revision: created.meta?.revision ?? 0n }, status: ready() },
    }),
  );
  t.is(denied.code, Code.PermissionDenied);
  t.regex(
    denied.rawMessage,
    /token "dev" may not write the status of endpoints: that needs a component or admin token/,
  );
  t.is((await endpoints(t).get({ name: "status-roles" })).endpoint?.meta?.revision, created.meta?.revision);

  const byAdmin = await endpoints(t).updateStatus({
    endpoint: { meta: { name: "status-roles", revision: created.meta?.revision ?? 0n }, status: ready() },
  });
  t.is(byAdmin.endpoint?.status?.phase, Phase.READY);
  const byComponent = await endpoints(t, t.context.component).updateStatus({
    endpoint: {
      meta: { name: "status-roles", revision: byAdmin.endpoint?.meta?.revision ?? 0n },
      status: { ...ready(), phase: Phase.ERROR, reason: ["Envoy rejected the route"] },
    },
  });
  t.is(byComponent.endpoint?.status?.phase, Phase.ERROR);
});

test("every kind has UpdateStatus, in every org for a component; a secret's values stay hidden", async (t) => {
  const { url, token } = t.context.dispatch;
  await client(OrganizationService, url, token).create({ organization: { meta: { name: "globex" } } });
  const secrets = client(SecretService, url, token);
  const secret = (
    await secrets.create({
      secret: { meta: { name: "db", org: "globex" }, spec: { data: { pw: "hunter2" } } },
    })
  ).secret;
  // A subscription names a function that exists.
  const { source } = await client(SourceService, url, token).upload({
    org: "globex",
    format: "file",
    filename: "hello.js",
    data: new TextEncoder().encode("module.exports = async () => null;\n"),
  });
  await client(FunctionService, url, token).create({
    function: {
      meta: { name: "hello", org: "globex" },
      spec: { runtime: "nodejs", ...(source ? { source } : {}) },
    },
  });
  const subscription = (
    await client(SubscriptionService, url, token).create({
      subscription: { meta: { name: "orders", org: "globex" }, spec: { function: "hello" } },
    })
  ).subscription;
  const org = (await client(OrganizationService, url, token).get({ name: "globex" })).organization;
  const status = { phase: Phase.READY, observedGeneration: 1n };

  const wroteSecret = await client(SecretService, url, t.context.component).updateStatus({
    secret: { meta: { name: "db", org: "globex", revision: secret?.meta?.revision ?? 0n }, status },
  });
  t.is(wroteSecret.secret?.status?.phase, Phase.READY);
  t.deepEqual(wroteSecret.secret?.spec?.data, {}, "values are never in a status write's answer");
  t.is(
    (await secrets.get({ org: "globex", name: "db", reveal: true })).secret?.spec?.data.pw,
    "hunter2",
    "the secret's values are intact",
  );
  const wroteSub = await client(SubscriptionService, url, t.context.component).updateStatus({
    subscription: {
      meta: { name: "orders", org: "globex", revision: subscription?.meta?.revision ?? 0n },
      status,
    },
  });
  t.is(wroteSub.subscription?.status?.phase, Phase.READY);
  const wroteOrg = await client(OrganizationService, url, t.context.component).updateStatus({
    organization: { meta: { name: "globex", revision: org?.meta?.revision ?? 0n }, status },
  });
  t.is(wroteOrg.organization?.status?.phase, Phase.READY);
  const missing = await rejects(
    client(FunctionService, url, t.context.component).updateStatus({
      function: { meta: { name: "nope", org: "globex", revision: 1n }, status },
    }),
  );
  t.is(missing.code, Code.NotFound);
  t.regex(missing.rawMessage, /function "nope" not found in org "globex"/);
});

test("a component token reads every org but cannot create, change, delete, run, upload, or reveal secrets", async (t) => {
  const { url, token } = t.context.dispatch;
  await client(OrganizationService, url, token).create({ organization: { meta: { name: "initech" } } });
  await client(SecretService, url, token).create({
    secret: { meta: { name: "key", org: "initech" }, spec: { data: { k: "v" } } },
  });
  const component = t.context.component;
  const secrets = client(SecretService, url, component);

  // Reads: every org, organizations included.
  t.deepEqual(
    (await secrets.list({ org: "initech" })).items.map((s) => s.meta?.name),
    ["key"],
  );
  t.deepEqual((await secrets.get({ org: "initech", name: "key" })).secret?.keys, ["k"]);
  const orgs = (await client(OrganizationService, url, component).list({})).items.map((o) => o.meta?.name);
  t.true(orgs.includes("initech") && orgs.includes("default"), orgs.join(","));
  for await (const event of client(SecretService, url, component).watch(
    { org: "initech" },
    { signal: AbortSignal.timeout(60_000) },
  )) {
    t.is(event.type, WatchEventType.ADDED);
    t.deepEqual(event.object?.spec?.data, {});
    break;
  }
  t.is((await client(RunService, url, component).list({ org: "initech" })).items.length, 0);
  const who = await client(TokenService, url, component).whoAmI({});
  t.is(who.token?.role, Role.COMPONENT);
  t.is(who.token?.org, "");

  // Secret values: refused, on every read.
  for (const call of [
    () => secrets.get({ org: "initech", name: "key", reveal: true }),
    () => secrets.list({ org: "initech", reveal: true }),
    async () => {
      for await (const _ of secrets.watch({ org: "initech", reveal: true })) break;
    },
  ]) {
    const err = await rejects(call());
    t.is(err.code, Code.PermissionDenied);
    t.regex(err.rawMessage, /token "xds-server" is a component token and may not read secret values/);
  }

  // Changes: refused, and nothing changes.
  const refused: Record<string, () => Promise<unknown>> = {
    "Secret.Create": () =>
      secrets.create({ secret: { meta: { name: "new", org: "initech" }, spec: { data: { a: "b" } } } }),
    "Secret.Update": () =>
      secrets.update({ secret: { meta: { name: "key", org: "initech" }, spec: { data: { k: "x" } } } }),
    "Secret.Delete": () => secrets.delete({ org: "initech", name: "key" }),
    "Organization.Create": () =>
      client(OrganizationService, url, component).create({ organization: { meta: { name: "mine" } } }),
    "Organization.Delete": () => client(OrganizationService, url, component).delete({ name: "initech" }),
    "Run.Create": () =>
      client(RunService, url, component).create({
        run: { meta: { org: "initech" }, spec: { function: "hello" } },
      }),
    "Source.Upload": () =>
      client(SourceService, url, component).upload({
        org: "initech",
        format: "file",
        filename: "a.js",
        data: new Uint8Array([1]),
      }),
    "Token.Create": () => client(TokenService, url, component).create({ name: "escalate", role: Role.ADMIN }),
    "Token.List": () => client(TokenService, url, component).list({}),
  };
  for (const [name, call] of Object.entries(refused)) {
    const err = await rejects(call());
    t.is(err.code, Code.PermissionDenied, `${name}: ${err.message}`);
    t.regex(err.rawMessage, /token "xds-server" /, name);
    if (name === "Secret.Create") {
      t.regex(
        err.rawMessage,
        /is a component token and may not create secrets: components read and write status only/,
      );
    }
  }
  const still = await client(SecretService, url, token).get({ org: "initech", name: "key", reveal: true });
  t.deepEqual(still.secret?.spec?.data, { k: "v" });
  t.is(still.secret?.meta?.generation, 1n);
  const names = (await client(TokenService, url, token).list({})).items.map((x) => x.name);
  t.false(names.includes("escalate"));
  // Logs are function output, read like runs.
  const logs = await rejects(
    (async () => {
      for await (const _ of client(LogService, url, component).tail({ org: "initech", function: "hello" })) {
      }
    })(),
  );
  t.is(logs.code, Code.NotFound, "a component may read logs; this function does not exist");
});

test("component tokens: created by admins without an org, listed with their role; an org or an unknown role is refused", async (t) => {
  const { url, token } = t.context.dispatch;
  const tokens = client(TokenService, url, token);
  const created = await tokens.create({ name: "broker", role: Role.COMPONENT });
  t.is(created.token?.role, Role.COMPONENT);
  t.is(created.token?.org, "");
  const listed = (await tokens.list({})).items.find((x) => x.name === "broker");
  t.is(listed?.role, Role.COMPONENT);

  const withOrg = await rejects(tokens.create({ name: "broker-2", role: Role.COMPONENT, org: "default" }));
  t.is(withOrg.code, Code.InvalidArgument);
  t.regex(withOrg.rawMessage, /org: component tokens read every org; leave org empty/);
  const unknown = await rejects(tokens.create({ name: "broker-3", role: 9 as Role }));
  t.is(unknown.code, Code.InvalidArgument);
  t.regex(unknown.rawMessage, /role: 9 is not a role \(use ROLE_ADMIN, ROLE_ORG_MEMBER or ROLE_COMPONENT\)/);
  const byMember = await rejects(
    client(TokenService, url, t.context.member).create({ name: "broker-4", role: Role.COMPONENT }),
  );
  t.is(byMember.code, Code.PermissionDenied);
  const names = (await tokens.list({})).items.map((x) => x.name);
  t.false(names.some((n) => ["broker-2", "broker-3", "broker-4"].includes(n)));
});
