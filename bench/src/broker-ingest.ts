/**
 * The event broker's HTTP ingest against raw JetStream publishing, same run,
 * same nats-server, same in-flight window:
 *
 * - broker: `POST /default/default` in CloudEvents binary mode, 1 KiB of data
 *   (`application/octet-stream`), keep-alive connections, a Dispatch token;
 *   each call ends at the 202 the broker sends once JetStream stored the event
 *   (its stream, subjects from the type, a dedup id per event);
 * - raw JetStream: `@nats-io/jetstream` `publish` of the same 1 KiB, with a
 *   `Nats-Msg-Id`, to a stream with the broker's settings (file storage, the
 *   same dedup window), from this process: what a producer that speaks NATS
 *   itself gets.
 *
 * `dispatch up` runs as its own process (as users run it) on its own
 * nats-server; calls go in rounds that take turns between the two (`compare.ts`).
 *
 *   npm run build && node bench/dist/src/broker-ingest.js [events=20000] [window=64]
 *
 * Target: broker ≥ 0.7× raw JetStream (events per second).
 */
import { randomBytes } from "node:crypto";
import { Agent } from "node:http";
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { postEvent } from "./broker-post.js";
import { compare } from "./compare.js";
import { startDispatchProcess } from "./process.js";
import { format } from "./stats.js";

const total = Number(process.argv[2] ?? 20_000);
const window = Number(process.argv[3] ?? 64);
const data = randomBytes(1024);

const up = await startDispatchProcess();
try {
  const agent = new Agent({ keepAlive: true, maxSockets: window });
  let n = 0;
  const post = () =>
    postEvent({
      events: up.events,
      org: "default",
      token: up.token,
      agent,
      id: `ingest-${n++}`,
      type: "bench.ingest",
      contentType: "application/octet-stream",
      data,
    });

  const nc = await connect(up.nats.connectOptions);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "RAW_BENCH",
    subjects: ["raw.>"],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: 2 * 60 * 1_000_000_000,
  });
  const js = jetstream(nc);
  let m = 0;
  const publish = async () => {
    await js.publish("raw.bench.ingest", data, { msgID: `raw-${m++}` });
  };

  // Warm both paths (connections, JIT, the broker's stream) before measuring.
  await compare(window, 2000, { broker: post, "raw JetStream": publish }, 2);
  const results = await compare(window, total, { broker: post, "raw JetStream": publish });
  const broker = results.broker;
  const raw = results["raw JetStream"];
  console.log(`broker-ingest: ${total} events of 1 KiB per path, ${window} in flight, over loopback`);
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `  ${name.padEnd(14)} ${r.rate.toFixed(0).padStart(6)} events/s  ${format(r.summary)}  cpu/event: ${r.cpu}`,
    );
  }
  console.log(`  ratio broker / raw JetStream: ${(broker.rate / raw.rate).toFixed(2)}× (target ≥ 0.7×)`);
  await nc.close();
  agent.destroy();
} finally {
  await up.stop();
}
