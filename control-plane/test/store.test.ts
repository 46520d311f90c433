import { startNats } from "@dispatch/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import test from "ava";
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
