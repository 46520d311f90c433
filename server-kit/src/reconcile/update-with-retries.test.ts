import test from "ava";
import { UpdateConflictError, updateWithRetries } from "./update-with-retries.js";

class Conflict extends Error {}

/** A one-key store with compare-and-set on a revision. */
function createStore(initial: { count: number; note: string }) {
  let stored = { object: initial, revision: 1 };
  return {
    get current() {
      return stored;
    },
    /** Someone else writes, as a race would. */
    meddle(change: (o: { count: number; note: string }) => { count: number; note: string }) {
      stored = { object: change(stored.object), revision: stored.revision + 1 };
    },
    read: async () => stored,
    async write(object: { count: number; note: string }, revision: number) {
      if (revision !== stored.revision) throw new Conflict("wrong revision");
      stored = { object, revision: revision + 1 };
    },
  };
}

test("updateWithRetries: a lost race is retried with the next version derived from a fresh read, so the other write is kept", async (t) => {
  const store = createStore({ count: 0, note: "" });
  let raced = false;
  const outcome = await updateWithRetries({
    read: store.read,
    next: (current) => ({ ...current, note: "status written" }),
    async write(object, revision) {
      if (!raced) {
        raced = true;
        store.meddle((o) => ({ ...o, count: o.count + 1 }));
      }
      await store.write(object, revision);
    },
    isConflict: (err) => err instanceof Conflict,
  });
  t.is(outcome, "written");
  t.deepEqual(store.current.object, { count: 1, note: "status written" });
});

test("updateWithRetries: nothing to change and a missing object write nothing; a race lost every time ends in UpdateConflictError", async (t) => {
  const store = createStore({ count: 0, note: "same" });
  t.is(
    await updateWithRetries({
      read: store.read,
      next: (current) => (current.note === "same" ? undefined : current),
      write: store.write,
      isConflict: (err) => err instanceof Conflict,
    }),
    "unchanged",
  );
  t.is(store.current.revision, 1);
  t.is(
    await updateWithRetries({
      read: async () => undefined,
      next: (current) => current,
      write: store.write,
      isConflict: () => true,
    }),
    "missing",
  );
  let writes = 0;
  const error = await t.throwsAsync(
    updateWithRetries({
      read: store.read,
      next: (current) => ({ ...current, note: "mine" }),
      async write(object, revision) {
        writes++;
        store.meddle((o) => o);
        await store.write(object, revision);
      },
      isConflict: (err) => err instanceof Conflict,
      attempts: 3,
    }),
    { instanceOf: UpdateConflictError },
  );
  t.is(writes, 3);
  t.true(error?.cause instanceof Conflict);
  // Any other failure is not retried.
  writes = 0;
  await t.throwsAsync(
    updateWithRetries({
      read: store.read,
      next: (current) => ({ ...current, note: "mine" }),
      async write() {
        writes++;
        throw new Error("NATS did not answer");
      },
      isConflict: (err) => err instanceof Conflict,
    }),
    { message: "NATS did not answer" },
  );
  t.is(writes, 1);
});
