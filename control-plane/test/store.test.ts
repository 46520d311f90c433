import { startNats } from "@dispatch/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import test from "ava";
import { RevisionUnavailableError } from "../src/store/errors.js";
import { readSubjects } from "../src/store/subject-reader.js";

test("a list taken while keys are being rewritten holds every key exactly once, at its latest revision or newer", async (t) => {
  const nats = await startNats();
  const nc = await connect(nats.connectOptions);
  try {
    const js = jetstream(nc);
    const kv = await new Kvm(js).create("racing", { history: 1 });
    const keys = Array.from({ length: 30 }, (_, i) => `org.k${i}`);
    for (const key of keys) await kv.put(key, "0");
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await kv.put(keys[i % keys.length] ?? "org.k0", String(i));
    })();
    try {
      for (let round = 0; round < 60; round++) {
        const seen: string[] = [];
        for await (const event of readSubjects(js, "KV_racing", "$KV.racing.", "org.*", { follow: false })) {
          if (event.type === "message") seen.push(event.message.key);
        }
        t.is(seen.length, keys.length, `round ${round}: ${seen.length} messages`);
        t.is(new Set(seen).size, keys.length, `round ${round}: no key twice, none missing`);
      }
    } finally {
      writing = false;
      await writer;
    }
  } finally {
    await nc.close();
    await nats.stop();
  }
});

test("a watch started while keys are being rewritten never goes back to an older revision of a key", async (t) => {
  const nats = await startNats();
  const nc = await connect(nats.connectOptions);
  try {
    const js = jetstream(nc);
    const kv = await new Kvm(js).create("moving", { history: 1 });
    for (let i = 0; i < 10; i++) await kv.put(`org.k${i}`, "0");
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await kv.put(`org.k${i % 10}`, String(i));
    })();
    const abort = new AbortController();
    const latest = new Map<string, number>();
    let events = 0;
    let synced = false;
    try {
      for await (const event of readSubjects(js, "KV_moving", "$KV.moving.", "org.*", {
        follow: true,
        signal: abort.signal,
      })) {
        if (event.type === "synced") {
          synced = true;
          continue;
        }
        const before = latest.get(event.message.key) ?? 0;
        t.true(
          event.message.revision > before,
          `${event.message.key}: ${event.message.revision} after ${before}`,
        );
        latest.set(event.message.key, event.message.revision);
        if (++events >= 300) abort.abort();
      }
    } finally {
      writing = false;
      await writer;
    }
    t.true(synced);
    t.is(latest.size, 10);
  } finally {
    await nc.close();
    await nats.stop();
  }
});

test("a watch's SYNCED revision is the store's from before the listing: no change at or below it follows the marker", async (t) => {
  const nats = await startNats();
  const nc = await connect(nats.connectOptions);
  try {
    const js = jetstream(nc);
    const kv = await new Kvm(js).create("listing", { history: 1 });
    // Enough keys that the listing takes several rounds of point reads, and
    // writers enough that keys change between them.
    const keys = Array.from({ length: 200 }, (_, i) => `org.k${i}`);
    await Promise.all(keys.map((key) => kv.put(key, "0")));
    let writing = true;
    const writer = Promise.all(
      [0, 1, 2, 3].map(async (w) => {
        for (let i = w; writing; i += 4) await kv.put(keys[(i * 7) % keys.length] ?? "org.k0", String(i));
      }),
    );
    // Rounds in which the listing read a key at a revision above SYNCED's
    // (written while it listed): the case where a marker at the newest
    // revision read would claim changes still to come.
    let raced = 0;
    const late: string[] = [];
    try {
      for (let round = 0; round < 300 && raced < 5; round++) {
        const abort = new AbortController();
        let synced: number | undefined;
        let newestListed = 0;
        for await (const event of readSubjects(js, "KV_listing", "$KV.listing.", "org.*", {
          follow: true,
          signal: abort.signal,
        })) {
          if (event.type === "synced") {
            synced = event.revision;
            if (newestListed > synced) raced++;
            continue;
          }
          const { key, revision } = event.message;
          if (synced === undefined) {
            newestListed = Math.max(newestListed, revision);
            continue;
          }
          if (revision <= synced) late.push(`round ${round}: ${key}@${revision} after SYNCED ${synced}`);
          // The consumer is ordered: past both, every change up to them has come.
          if (revision > Math.max(newestListed, synced)) break;
        }
        abort.abort();
      }
    } finally {
      writing = false;
      await writer;
    }
    t.deepEqual(late, [], "a client resuming from SYNCED's revision would miss these");
    t.true(raced > 0, "some listing ran while keys were written");
  } finally {
    await nc.close();
    await nats.stop();
  }
});

test("resuming after a revision the store has not reached (a reset or restored store) fails, saying to read the state again", async (t) => {
  const nats = await startNats();
  const nc = await connect(nats.connectOptions);
  try {
    const js = jetstream(nc);
    const kv = await new Kvm(js).create("young", { history: 1 });
    await kv.put("org.a", "1");
    const last = await kv.put("org.b", "1");
    const read = async (resumeAfter: number) => {
      const seen: string[] = [];
      for await (const event of readSubjects(js, "KV_young", "$KV.young.", "org.*", {
        follow: false,
        resumeAfter,
      })) {
        seen.push(event.type === "synced" ? `synced ${event.revision}` : event.message.key);
      }
      return seen;
    };
    t.deepEqual(await read(last - 1), ["org.b", `synced ${last}`]);
    t.deepEqual(
      await read(last),
      [`synced ${last}`],
      "at the store's last revision: nothing new, not an error",
    );
    const error = await t.throwsAsync(read(last + 40), { instanceOf: RevisionUnavailableError });
    t.regex(
      error?.message ?? "",
      new RegExp(`revision ${last + 40} is ahead of the store, whose last is ${last}`),
    );
    t.regex(error?.message ?? "", /watch without a resume revision/);
  } finally {
    await nc.close();
    await nats.stop();
  }
});
