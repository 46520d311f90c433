import { Code, ConnectError } from "@connectrpc/connect";
import type { Secret } from "@dispatch/proto";
import { startDispatch, startTcpRelay } from "@dispatch/testkit";
import test from "ava";
import { createWatchCache, type WatchChange, type WatchReconnect } from "../src/index.js";
import {
  cached,
  describeChange,
  directClients,
  listed,
  portOf,
  pullUntil,
  putSecret,
  relayedClients,
} from "./helpers.js";

const isSynced = (changes: WatchChange<Secret>[]) => changes.at(-1)?.type === "synced";
const withoutSynced = (changes: WatchChange<Secret>[]) =>
  changes.filter((c): c is Exclude<WatchChange<Secret>, { type: "synced" }> => c.type !== "synced");

test("watch cache: the state at SYNCED, then each change; a busy subscriber gets each key once, at its latest", async (t) => {
  const dispatch = await startDispatch();
  t.teardown(() => dispatch.stop());
  const api = directClients(dispatch);
  await putSecret(api, "a", { v: "0" });
  await putSecret(api, "b", { v: "0" });
  const abort = new AbortController();
  t.teardown(() => abort.abort());

  const cache = createWatchCache({ client: api.secrets, signal: abort.signal });
  await cache.synced;
  t.deepEqual(cached(cache), await listed(api));
  t.true(cache.get("default/a") !== undefined, "keyed org/name");

  const eager = cache.changes();
  const lazy = cache.changes();
  const holding = cache.list().map((s) => `upsert default/${s.meta?.name}@${s.meta?.revision}`);
  for (const subscriber of [eager, lazy]) {
    const first = await pullUntil(subscriber, isSynced);
    t.deepEqual(first.map(describeChange), [...holding, "synced"], "a new subscriber starts with the state");
  }

  let last = 0n;
  for (let i = 1; i <= 5; i++) last = await putSecret(api, "a", { v: String(i) }, "update");
  const seen = withoutSynced(
    await pullUntil(eager, (changes) => changes.some((c) => c.type === "upsert" && c.revision === last)),
  );
  const revisions = seen.map((c) => c.revision);
  t.true(
    revisions.every((r, i) => i === 0 || r > (revisions[i - 1] ?? 0n)),
    `revisions only grow: ${revisions.join(", ")}`,
  );
  t.true(
    seen.every((c) => c.key === "default/a"),
    "only the key that changed",
  );

  // The lazy subscriber pulls only now: the five changes wait as one.
  const next = await lazy.next();
  t.false(next.done);
  t.deepEqual((next.value as WatchChange<Secret>[]).map(describeChange), [`upsert default/a@${last}`]);
});

test("watch cache: a cut connection resumes after its revision; what changed meanwhile arrives once, nothing else again", async (t) => {
  const dispatch = await startDispatch();
  t.teardown(() => dispatch.stop());
  const relay = await startTcpRelay(portOf(dispatch));
  t.teardown(() => relay.close());
  const api = directClients(dispatch);
  for (const name of ["a", "b", "c"]) await putSecret(api, name, { v: "0" });
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const reconnects: WatchReconnect[] = [];
  const cache = createWatchCache({
    client: relayedClients(relay, dispatch.token).secrets,
    signal: abort.signal,
    onReconnect: (r) => reconnects.push(r),
  });
  const changes = cache.changes();
  await pullUntil(changes, isSynced);
  const aRevision = await putSecret(api, "a", { v: "1" }, "update");
  await pullUntil(changes, (c) => c.some((x) => x.type === "upsert" && x.revision === aRevision));
  t.is(cache.revision, aRevision);

  // The connection breaks; reconnects are held until the changes are made.
  relay.hold();
  const reconnecting = relay.nextConnection();
  relay.cutAll();
  const bRevision = await putSecret(api, "b", { v: "1" }, "update");
  await api.secrets.delete({ name: "c" });
  const dRevision = await putSecret(api, "d", { v: "0" });
  await reconnecting;
  t.is(cache.get("default/c")?.meta?.name, "c", "nothing came through while the connection was held");
  relay.release();

  const after = await pullUntil(changes, (c) => c.some((x) => x.type === "upsert" && x.key === "default/d"));
  const rest = isSynced(after) ? after : [...after, ...(await pullUntil(changes, isSynced))];
  t.deepEqual(withoutSynced(rest).map(describeChange), [
    `upsert default/b@${bRevision}`,
    "delete default/c",
    `upsert default/d@${dRevision}`,
  ]);
  t.deepEqual(cached(cache), await listed(api));
  t.true(reconnects.length >= 1);
  t.true(
    reconnects.every((r) => !r.relist),
    "resumed, never read again from the start",
  );
  t.is(cache.revision, dRevision);
});

test("watch cache: cut again and again while keys are rewritten, the cache ends equal to the server, no change twice", async (t) => {
  const dispatch = await startDispatch();
  t.teardown(() => dispatch.stop());
  const relay = await startTcpRelay(portOf(dispatch));
  t.teardown(() => relay.close());
  const api = directClients(dispatch);
  const names = Array.from({ length: 8 }, (_, i) => `k${i}`);
  for (const name of names) await putSecret(api, name, { v: "0" });
  let writing = true;
  let warm!: () => void;
  const warmedUp = new Promise<void>((resolve) => {
    warm = resolve;
  });
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const name = names[i % names.length] ?? "k0";
      if (i % 11 === 10) {
        await api.secrets.delete({ name });
        await putSecret(api, name, { v: String(i) });
      } else {
        await putSecret(api, name, { v: String(i) }, "update");
      }
      if (i === 20) warm();
    }
  })();
  await warmedUp;
  // Started while the writes go on: its first state is read under them, so
  // a resume from its SYNCED revision sends some of that state again.
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const cache = createWatchCache({
    client: relayedClients(relay, dispatch.token).secrets,
    signal: abort.signal,
  });
  const changes = cache.changes();

  // Per key, the revisions of the changes seen: each must be newer than the last.
  const lastSeen = new Map<string, bigint>();
  let repeated = 0;
  const take = (batch: WatchChange<Secret>[]) => {
    for (const change of withoutSynced(batch)) {
      if (change.revision <= (lastSeen.get(change.key) ?? 0n)) repeated++;
      lastSeen.set(change.key, change.revision);
    }
  };
  try {
    for (let cut = 0; cut < 6; cut++) {
      // The first cut right after the first sync, then each after a few changes.
      take(await pullUntil(changes, (c) => (cut === 0 ? isSynced(c) : withoutSynced(c).length >= 5)));
      const reconnected = relay.nextConnection();
      relay.cutAll();
      await reconnected;
    }
  } finally {
    writing = false;
    await writer;
  }
  const endRevision = await putSecret(api, "end", { v: "0" });
  take(await pullUntil(changes, (c) => c.some((x) => x.type === "upsert" && x.revision === endRevision)));
  t.is(repeated, 0, "no change came twice or went back in time");
  t.deepEqual(cached(cache), await listed(api), "nothing missed");
  t.true(relay.accepted >= 7, "each cut made the cache connect again");
});

test("watch cache: when the server no longer has its revision, it reads everything again and deletes what vanished", async (t) => {
  // Two installations: the relay first leads to one whose store is well ahead,
  // then to another (as after a restore from an older backup).
  const first = await startDispatch();
  t.teardown(() => first.stop());
  const second = await startDispatch({ token: first.token });
  t.teardown(() => second.stop());
  const relay = await startTcpRelay(portOf(first));
  t.teardown(() => relay.close());
  const one = directClients(first);
  const two = directClients(second);
  for (const name of ["x", "y", "z"]) await putSecret(one, name, { first: "0" });
  for (let i = 1; i <= 10; i++) await putSecret(one, "x", { first: String(i) }, "update");
  await putSecret(two, "y", { second: "0" });
  await putSecret(two, "w", { second: "0" });

  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const reconnects: WatchReconnect[] = [];
  const cache = createWatchCache({
    client: relayedClients(relay, first.token).secrets,
    signal: abort.signal,
    onReconnect: (r) => reconnects.push(r),
  });
  const changes = cache.changes();
  await pullUntil(changes, isSynced);
  t.deepEqual(cached(cache), await listed(one));

  relay.retarget(portOf(second));
  relay.cutAll();
  const after = await pullUntil(changes, isSynced);
  const yRevision = cache.get("default/y")?.meta?.revision;
  const wRevision = cache.get("default/w")?.meta?.revision;
  t.deepEqual(withoutSynced(after).map(describeChange).sort(), [
    "delete default/x",
    "delete default/z",
    `upsert default/w@${wRevision}`,
    `upsert default/y@${yRevision}`,
  ]);
  t.deepEqual(cached(cache), await listed(two));
  t.deepEqual(cache.get("default/y")?.keys, ["second"], "y as the second installation has it");
  const relisted = reconnects.find((r) => r.relist);
  t.true(relisted !== undefined, "read again from the start");
  t.true(
    relisted?.cause instanceof ConnectError && relisted.cause.code === Code.OutOfRange,
    `because the server said the revision was not there (${String(relisted?.cause)})`,
  );
});

test("watch cache: an abort before the first sync rejects synced and ends every subscriber", async (t) => {
  const dispatch = await startDispatch();
  t.teardown(() => dispatch.stop());
  const relay = await startTcpRelay(portOf(dispatch));
  t.teardown(() => relay.close());
  relay.hold();
  const abort = new AbortController();
  const connected = relay.nextConnection();
  const cache = createWatchCache({
    client: relayedClients(relay, dispatch.token).secrets,
    signal: abort.signal,
  });
  const changes = cache.changes();
  await connected;
  abort.abort(new Error("stopped by the test"));
  await t.throwsAsync(cache.synced, { message: "stopped by the test" });
  await cache.done;
  t.deepEqual(await changes.next(), { done: true, value: undefined });
});

test("watch cache: an abort after the sync stops following; the cache keeps what it held", async (t) => {
  const dispatch = await startDispatch();
  t.teardown(() => dispatch.stop());
  const api = directClients(dispatch);
  const revision = await putSecret(api, "a", { v: "0" });
  const abort = new AbortController();
  const cache = createWatchCache({ client: api.secrets, signal: abort.signal });
  const following = (async () => {
    const seen: WatchChange<Secret>[] = [];
    for await (const batch of cache.changes()) seen.push(...batch);
    return seen;
  })();
  await cache.synced;
  abort.abort();
  await cache.done;
  t.deepEqual((await following).map(describeChange), [`upsert default/a@${revision}`, "synced"]);

  // A change after the abort: another cache sees it, the stopped one does not.
  const changed = await putSecret(api, "a", { v: "1" }, "update");
  const other = new AbortController();
  t.teardown(() => other.abort());
  const live = createWatchCache({ client: api.secrets, signal: other.signal });
  await live.synced;
  t.is(live.get("default/a")?.meta?.revision, changed);
  t.is(cache.get("default/a")?.meta?.revision, revision);
});

test("watch cache: an answer no retry can change (a token the server refuses) stops it with that error", async (t) => {
  const dispatch = await startDispatch();
  t.teardown(() => dispatch.stop());
  const reconnects: WatchReconnect[] = [];
  const cache = createWatchCache({
    client: directClients(dispatch, "not-a-token").secrets,
    onReconnect: (r) => reconnects.push(r),
  });
  const changes = cache.changes();
  const refused = await t.throwsAsync(cache.synced, { instanceOf: ConnectError });
  t.is(refused?.code, Code.Unauthenticated);
  await t.throwsAsync(cache.done, { is: refused });
  await t.throwsAsync(changes.next(), { is: refused });
  t.deepEqual(reconnects, [], "not tried again");
});
