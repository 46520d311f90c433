import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import {
  Phase,
  SecretService,
  SystemService,
  TokenService,
  WatchEventType,
  type WatchSecretsResponse,
} from "@dispatch/proto";
import { startDispatch } from "@dispatch/testkit";
import type { NatsConnection } from "@nats-io/transport-node";
import test from "ava";
import { deploy, exec, functionClients, helloJs, settled, uploadFile } from "./functions-helpers.js";
import { client, rejects } from "./helpers.js";

/** Resolves once `nc` reported `count` status events of `type` (counted from this call on). */
async function statusEvents(nc: NatsConnection, type: string, count: number): Promise<void> {
  let seen = 0;
  for await (const status of nc.status()) {
    if (status.type === type && ++seen >= count) return;
  }
}

/** The next watch event that is not a SYNCED marker. */
async function nextChange(events: AsyncIterator<WatchSecretsResponse>): Promise<WatchSecretsResponse> {
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error("the watch ended");
    if (value.type !== WatchEventType.SYNCED) return value;
  }
}

test("NATS gone for longer than nats.js's reconnect window: calls are Unavailable and /readyz is 503 meanwhile; then invokes, revocation, watches and new functions work again without a restart", async (t) => {
  // A short wait between attempts, so that the default window (10 attempts) passes quickly.
  const dispatch = await startDispatch({ natsConnection: { reconnectWaitMs: 20 } });
  t.teardown(() => dispatch.stop());
  const { url, token } = dispatch;
  const api = functionClients(dispatch);
  t.is((await deploy(api, "hello", "hello.js", helloJs)).status?.phase, Phase.READY);
  const tokens = client(TokenService, url, token);
  const { secret: member } = await tokens.create({ name: "member", org: "default" });
  const secrets = client(SecretService, url, token);
  t.deepEqual((await client(SecretService, url, member).list({})).items, []);

  // A Watch opened before the outage, read up to its SYNCED marker.
  const watching = new AbortController();
  t.teardown(() => watching.abort());
  const watch = secrets.watch({}, { signal: watching.signal })[Symbol.asyncIterator]();
  t.is((await watch.next()).value?.type, WatchEventType.SYNCED);
  // A change seen through it: it follows the store now (its consumer exists).
  await secrets.create({ secret: { meta: { name: "before" }, spec: { data: { k: "v" } } } });
  t.is((await nextChange(watch)).object?.meta?.name, "before");

  const nc = dispatch.controlPlane.nats;
  const manyAttempts = statusEvents(nc, "reconnecting", 11);
  await dispatch.nats.kill();
  await manyAttempts;

  const refused = await rejects(exec(api, "hello", { name: "Ann" }));
  t.is(refused.code, Code.Unavailable);
  t.regex(refused.rawMessage, /^the control plane lost its connection to NATS at \S+Z; it is reconnecting$/);
  t.is((await rejects(secrets.list({}))).code, Code.Unavailable);
  const activator = dispatch.controlPlane.urls().activator;
  const viaHttp = () =>
    fetch(`${activator}/default/hello/`, {
      method: "POST",
      body: "{}",
      headers: { "dispatch-token": token },
    });
  const unrecordable = await viaHttp();
  t.is(unrecordable.status, 503, "an HTTP call that could not be recorded is refused");
  t.regex(
    ((await unrecordable.json()) as { error: { message: string } }).error.message,
    /lost its connection to NATS/,
  );
  t.is((await fetch(`${url}/readyz`)).status, 503, "not ready without NATS");
  t.is((await fetch(`${url}/healthz`)).status, 200, "but alive");
  const down = await client(SystemService, url, token).getStatus({});
  const nats = down.components.find((c) => c.name === "nats");
  t.false(nats?.healthy);
  t.regex(nats?.message ?? "", /^disconnected since \S+Z; reconnecting \(\d+ attempts so far\)$/);

  const reconnected = statusEvents(nc, "reconnect", 1);
  await dispatch.nats.restart();
  await reconnected;

  t.is((await fetch(`${url}/readyz`)).status, 200);
  const up = await client(SystemService, url, token).getStatus({});
  t.true(up.components.find((c) => c.name === "nats")?.healthy);
  const run = await exec(api, "hello", { name: "Ann", place: "Oslo" });
  t.is(run.status?.phase, Phase.READY, run.status?.reason.join("; "));
  t.deepEqual(
    (await api.runs.get({ function: "hello", name: run.meta?.name ?? "" })).run?.status?.phase,
    Phase.READY,
  );
  t.is((await viaHttp()).status, 200, "HTTP calls through the activator too");

  // The token registry's watch still follows the store: revocation takes effect.
  await tokens.delete({ name: "member" });
  t.is((await rejects(client(SecretService, url, member).list({}))).code, Code.Unauthenticated);

  // The Watch opened before the outage sees what changes after it.
  await secrets.create({ secret: { meta: { name: "after" }, spec: { data: { k: "v" } } } });
  const change = await nextChange(watch);
  t.is(change.type, WatchEventType.ADDED);
  t.is(change.object?.meta?.name, "after");

  // The scheduler's function watch still follows the store: a new function comes up.
  t.is((await deploy(api, "fresh", "fresh.js", helloJs)).status?.phase, Phase.READY);
  t.is((await exec(api, "fresh")).status?.phase, Phase.READY);
});

/** Removes every consumer from a stopped server's store: it comes back without them. */
async function forgetConsumers(storeDir: string): Promise<number> {
  const streams = join(storeDir, "jetstream", "$G", "streams");
  let removed = 0;
  for (const stream of await readdir(streams)) {
    const consumers = join(streams, stream, "obs");
    const names = await readdir(consumers).catch(() => []);
    removed += names.length;
    await rm(consumers, { recursive: true, force: true });
  }
  return removed;
}

test("NATS back without the consumers the watches had (a restarted cluster node): every watch resumes at the reconnect", async (t) => {
  const dispatch = await startDispatch({ natsConnection: { reconnectWaitMs: 20 } });
  t.teardown(() => dispatch.stop());
  const { url, token } = dispatch;
  const api = functionClients(dispatch);
  t.is((await deploy(api, "hello", "hello.js", helloJs)).status?.phase, Phase.READY);
  const secrets = client(SecretService, url, token);
  const watching = new AbortController();
  t.teardown(() => watching.abort());
  const watch = secrets.watch({}, { signal: watching.signal })[Symbol.asyncIterator]();
  t.is((await watch.next()).value?.type, WatchEventType.SYNCED);
  await secrets.create({ secret: { meta: { name: "before" }, spec: { data: { k: "v" } } } });
  t.is((await nextChange(watch)).object?.meta?.name, "before");

  const nc = dispatch.controlPlane.nats;
  const disconnected = statusEvents(nc, "disconnect", 1);
  await dispatch.nats.kill();
  await disconnected;
  t.true((await forgetConsumers(dispatch.nats.storeDir)) > 0);
  const reconnected = statusEvents(nc, "reconnect", 1);
  await dispatch.nats.restart();
  await reconnected;

  // Creating a token waits (a while) for the token registry's watch to see it:
  // it authenticates only if that watch follows the store again.
  const tokens = client(TokenService, url, token);
  const { secret: probe } = await tokens.create({ name: "probe", org: "default" });
  t.deepEqual((await client(SecretService, url, probe).list({})).items.length, 1);
  await tokens.delete({ name: "probe" });
  t.is((await rejects(client(SecretService, url, probe).list({}))).code, Code.Unauthenticated);

  // The scheduler's watch: a new function comes up. nats.js alone would notice the lost consumer only
  // after two missed 30 s heartbeats; resumed at the reconnect, the function settles long before 45 s
  // even on a loaded machine (a cold start), so this bound tells the two apart.
  const source = await uploadFile(api, "fresh.js", helloJs);
  await api.functions.create({ function: { meta: { name: "fresh" }, spec: { runtime: "nodejs", source } } });
  t.is((await settled(api, "fresh", 45_000)).status?.phase, Phase.READY);
  // A Watch RPC opened before the outage.
  await secrets.create({ secret: { meta: { name: "after" }, spec: { data: { k: "v" } } } });
  t.is((await nextChange(watch)).object?.meta?.name, "after");
});
