import test from "ava";
import type { WatchChange } from "./change.js";
import { createChangeFeed } from "./change-feed.js";

const upsert = (key: string, revision: bigint): WatchChange<string> => ({
  type: "upsert",
  key,
  object: `${key}@${revision}`,
  revision,
});

test("change feed: changes that wait coalesce per key, in the order of each key's latest, one synced last", async (t) => {
  const feed = createChangeFeed<string>(() => undefined);
  feed.push(upsert("a", 1n));
  feed.push(upsert("b", 2n));
  feed.push({ type: "synced", revision: 2n });
  feed.push(upsert("a", 3n));
  feed.push({ type: "delete", key: "b", object: "b@2", revision: 4n });
  feed.push({ type: "synced", revision: 4n });
  const next = await feed.batches.next();
  t.deepEqual(next.value, [
    upsert("a", 3n),
    { type: "delete", key: "b", object: "b@2", revision: 4n },
    { type: "synced", revision: 4n },
  ]);
});

test("change feed: a waiting subscriber gets what arrived in one turn as one batch", async (t) => {
  const feed = createChangeFeed<string>(() => undefined);
  const next = feed.batches.next();
  feed.push(upsert("a", 1n));
  feed.push(upsert("b", 2n));
  t.deepEqual((await next).value, [upsert("a", 1n), upsert("b", 2n)]);
});

test("change feed: after the end, what waits is still handed out, then the error", async (t) => {
  let closed = 0;
  const feed = createChangeFeed<string>(() => closed++);
  feed.push(upsert("a", 1n));
  const failure = new Error("gone");
  feed.end(failure);
  feed.push(upsert("b", 2n));
  t.deepEqual((await feed.batches.next()).value, [upsert("a", 1n)]);
  await t.throwsAsync(feed.batches.next(), { is: failure });
  t.is(closed, 1);
});

test("change feed: a subscriber that returns is closed and gets nothing more", async (t) => {
  let closed = 0;
  const feed = createChangeFeed<string>(() => closed++);
  const waiting = feed.batches.next();
  await feed.batches.return?.();
  t.deepEqual(await waiting, { done: true, value: undefined });
  feed.push(upsert("a", 1n));
  t.deepEqual(await feed.batches.next(), { done: true, value: undefined });
  t.is(closed, 1);
});
