import { Code, ConnectError } from "@connectrpc/connect";
import {
  OrganizationService,
  Role,
  SecretService,
  TokenService,
  WatchEventType,
  type WatchSecretsResponse,
} from "@dispatch/proto";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { client } from "./helpers.js";

const test = anyTest as TestFn<{ dispatch: TestDispatch }>;

test.beforeEach(async (t) => {
  t.context.dispatch = await startDispatch();
});
test.afterEach.always(async (t) => {
  await t.context.dispatch?.stop();
});

/** Reads watch events into an array until `until` says stop (or the stream ends). */
async function collect(
  stream: AsyncIterable<WatchSecretsResponse>,
  until: (events: WatchSecretsResponse[]) => boolean,
): Promise<WatchSecretsResponse[]> {
  const events: WatchSecretsResponse[] = [];
  for await (const event of stream) {
    events.push(event);
    if (until(events)) break;
  }
  return events;
}

const describe = (e: WatchSecretsResponse) =>
  `${WatchEventType[e.type]}${e.object ? ` ${e.object.meta?.name}` : ""}`;

test("watch: current objects, SYNCED, then a second client's changes, in order", async (t) => {
  const { url, token } = t.context.dispatch;
  const writer = client(SecretService, url, token);
  const watcher = client(SecretService, url, token);
  await writer.create({ secret: { meta: { name: "before" }, spec: { data: { a: "1" } } } });

  const abort = new AbortController();
  const stream = watcher.watch({}, { signal: abort.signal });
  const iterator = stream[Symbol.asyncIterator]();
  const initial = [(await iterator.next()).value, (await iterator.next()).value] as WatchSecretsResponse[];
  t.deepEqual(initial.map(describe), ["ADDED before", "SYNCED"]);

  await writer.create({ secret: { meta: { name: "after" }, spec: { data: { b: "2" } } } });
  await writer.update({ secret: { meta: { name: "before" }, spec: { data: { a: "changed" } } } });
  await writer.delete({ name: "after" });

  const changes: WatchSecretsResponse[] = [];
  while (changes.length < 3) changes.push((await iterator.next()).value as WatchSecretsResponse);
  t.deepEqual(changes.map(describe), ["ADDED after", "MODIFIED before", "DELETED after"]);
  t.deepEqual(changes[1]?.object?.spec?.data, {}, "watch hides secret values too");
  t.true((changes[2]?.revision ?? 0n) > (changes[0]?.revision ?? 0n));
  abort.abort();
});

test("watch: resuming from a revision sends only what changed after it", async (t) => {
  const { url, token } = t.context.dispatch;
  const api = client(SecretService, url, token);
  await api.create({ secret: { meta: { name: "one" }, spec: { data: { a: "1" } } } });
  const { revision } = await api.list({});
  await api.create({ secret: { meta: { name: "two" }, spec: { data: { a: "2" } } } });
  await api.delete({ name: "one" });

  const events = await collect(api.watch({ resumeRevision: revision }), (e) => e.length === 3);
  t.deepEqual(events.map(describe), ["ADDED two", "DELETED one", "SYNCED"]);
});

test("watch: a single object, and tombstones of deleted objects are not replayed", async (t) => {
  const { url, token } = t.context.dispatch;
  const api = client(SecretService, url, token);
  await api.create({ secret: { meta: { name: "gone" }, spec: { data: { a: "1" } } } });
  await api.delete({ name: "gone" });
  await api.create({ secret: { meta: { name: "kept" }, spec: { data: { a: "1" } } } });
  await api.create({ secret: { meta: { name: "other" }, spec: { data: { a: "1" } } } });

  const all = await collect(api.watch({}), (e) => e.at(-1)?.type === WatchEventType.SYNCED);
  t.deepEqual(all.map(describe).sort(), ["ADDED kept", "ADDED other", "SYNCED"]);
  const one = await collect(api.watch({ name: "kept" }), (e) => e.at(-1)?.type === WatchEventType.SYNCED);
  t.deepEqual(one.map(describe), ["ADDED kept", "SYNCED"]);
});

test("shutdown: open watches end cleanly and data survives a restart", async (t) => {
  const { url, token, nats } = t.context.dispatch;
  const api = client(SecretService, url, token);
  await api.create({ secret: { meta: { name: "durable" }, spec: { data: { k: "v" } } } });
  const watching = collect(api.watch({}), () => false).then(
    (events) => ({ events, error: undefined }),
    (error: unknown) => ({ events: [], error: ConnectError.from(error) }),
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  await t.context.dispatch.controlPlane.close();
  const ended = await watching;
  // Either a clean end of stream or the server's Unavailable: never a hang or a reset.
  t.true(ended.error === undefined || ended.error.code === Code.Unavailable, String(ended.error));

  const { startDispatch: start } = await import("@dispatch/testkit");
  const again = await start({ nats, token, secretKey: t.context.dispatch.secretKey });
  try {
    const kept = await client(SecretService, again.url, token).get({ name: "durable", reveal: false });
    t.deepEqual(kept.secret?.keys, ["k"]);
  } finally {
    await again.controlPlane.close();
  }
});

test("restart with another secret key is refused with a message that says why", async (t) => {
  const { nats } = t.context.dispatch;
  await t.context.dispatch.controlPlane.close();
  const { startDispatch: start } = await import("@dispatch/testkit");
  const error = await t.throwsAsync(start({ nats }));
  t.is(error?.name, "ConfigurationError");
  t.regex(error?.message ?? "", /secret encryption key differs from the one this NATS store was set up with/);
});

test("watch of every org (all_orgs): a component follows each org's objects and deletions; members may not", async (t) => {
  const { url, token } = t.context.dispatch;
  await client(OrganizationService, url, token).create({ organization: { meta: { name: "acme" } } });
  const tokens = client(TokenService, url, token);
  const component = (await tokens.create({ name: "xds", role: Role.COMPONENT })).secret;
  const member = (await tokens.create({ name: "acme-dev", org: "acme" })).secret;
  const admin = client(SecretService, url, token);
  await admin.create({ secret: { meta: { name: "a" }, spec: { data: { k: "1" } } } });
  await admin.create({ secret: { meta: { name: "b", org: "acme" }, spec: { data: { k: "2" } } } });

  const abort = new AbortController();
  const iterator = client(SecretService, url, component)
    .watch({ allOrgs: true }, { signal: abort.signal })
    [Symbol.asyncIterator]();
  const where = (e: WatchSecretsResponse) =>
    `${WatchEventType[e.type]} ${e.object?.meta?.org}/${e.object?.meta?.name}`;
  const initial: string[] = [];
  for (;;) {
    const event = (await iterator.next()).value as WatchSecretsResponse;
    if (event.type === WatchEventType.SYNCED) break;
    initial.push(where(event));
  }
  t.deepEqual(initial.sort(), ["ADDED acme/b", "ADDED default/a"]);
  await admin.delete({ name: "b", org: "acme" });
  t.is(where((await iterator.next()).value as WatchSecretsResponse), "DELETED acme/b");
  abort.abort();

  const refused = await t.throwsAsync(
    collect(client(SecretService, url, member).watch({ allOrgs: true }), () => true),
  );
  t.is(ConnectError.from(refused).code, Code.PermissionDenied);
  t.regex(ConnectError.from(refused).rawMessage, /every org.*admin or component token/);
});
