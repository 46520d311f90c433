/**
 * Event delivery latency at a fixed rate: from the moment the producer has
 * the broker's 202 to the moment the subscribed function's handler is
 * entered, p50 and p99, beside raw JetStream at the same rate (publish ack to
 * a pull consumer's receipt, in this process) as the baseline.
 *
 * - broker: events of 1 KiB (JSON) sent in binary mode at `rate` per second
 *   for `seconds`, keep-alive; one subscription (exact type, concurrency 64)
 *   delivers to a Node function (two warm instances) whose handler, first
 *   thing, sends the event id and the time over UDP to this process. Times
 *   are `performance.timeOrigin + performance.now()` in both processes (the
 *   same machine's clock). A handler entered before the producer saw the 202
 *   counts as 0.
 * - raw JetStream: the same payload published at the same rate to a stream of
 *   this process's, read by a durable pull consumer (`consume()`).
 *
 *   npm run build && node bench/dist/src/broker-e2e.js [rate=2000] [seconds=10]
 *
 * Target: broker p99 ≤ 15 ms at 2,000 events/s.
 */
import { createSocket } from "node:dgram";
import { Agent } from "node:http";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SubscriptionService, SubscriptionSpecSchema } from "@dispatch/proto";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { postEvent } from "./broker-post.js";
import { cpuPerCall, sampleCpu } from "./cpu.js";
import { clients, createFunction, isReady, waitFor } from "./dispatch.js";
import { startDispatchProcess } from "./process.js";
import { format, summarize } from "./stats.js";

const rate = Number(process.argv[2] ?? 2000);
const seconds = Number(process.argv[3] ?? 10);
const total = rate * seconds;
const payload = Buffer.from(JSON.stringify({ pad: "x".repeat(1000) }));
const now = () => performance.timeOrigin + performance.now();

/** Sends `count` things at `rate` per second (in ticks of 5 ms), each through `send`. */
async function paced(count: number, send: (i: number) => Promise<void>): Promise<void> {
  const started = now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; ) {
    const due = Math.min(count, Math.floor(((now() - started) / 1000) * rate) + 1);
    for (; i < due; i++) {
      const p = send(i).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await Promise.all(inFlight);
}

const up = await startDispatchProcess();
const udp = createSocket("udp4");
try {
  const entered = new Map<string, number>();
  udp.on("message", (message) => {
    const [id, at] = message.toString().split(" ");
    if (id && at) entered.set(id, Number(at));
  });
  const udpPort = await new Promise<number>((resolve) =>
    udp.bind(0, "127.0.0.1", () => resolve(udp.address().port)),
  );

  const api = clients(up.url, up.token);
  const code = `const dgram = require("node:dgram");
const socket = dgram.createSocket("udp4");
module.exports = async (context) => {
  socket.send(context.event.id + " " + (performance.timeOrigin + performance.now()), ${udpPort}, "127.0.0.1");
  return null;
};
`;
  await createFunction(api, "probe", "probe.js", code, { min: 2 });
  await waitFor(api.functions, "probe", isReady);
  const subscriptions = createClient(
    SubscriptionService,
    createConnectTransport({
      baseUrl: up.url,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${up.token}`);
          return next(req);
        },
      ],
    }),
  );
  await subscriptions.create({
    subscription: {
      meta: { name: "probe" },
      spec: create(SubscriptionSpecSchema, {
        function: "probe",
        filters: [{ dialect: { case: "exact", value: { attributes: { type: "bench.e2e" } } } }],
        delivery: { retries: 3, concurrency: 64 },
      }),
    },
  });
  for await (const event of subscriptions.watch({ name: "probe" }, { signal: AbortSignal.timeout(60_000) })) {
    if (event.object?.status?.phase === 3) break;
  }

  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const acked = new Map<string, number>();
  const post = async (i: number) => {
    const id = `e2e-${i}`;
    await postEvent({
      events: up.events,
      org: "default",
      token: up.token,
      agent,
      id,
      type: "bench.e2e",
      contentType: "application/json",
      data: payload,
    });
    acked.set(id, now());
  };
  // Warm up: a second of events, not counted.
  await paced(Math.min(rate, 2000), (i) => post(total + i));
  const cpuBefore = sampleCpu();
  await paced(total, post);
  const deadline = now() + 120_000;
  while ([...acked.keys()].some((id) => !entered.has(id)) && now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const brokerCpu = cpuPerCall(cpuBefore, sampleCpu(), total);
  const latencies = [...acked].filter(([id]) => id.startsWith("e2e-") && Number(id.slice(4)) < total);
  const missing = latencies.filter(([id]) => !entered.has(id)).length;
  const broker = summarize(
    latencies.filter(([id]) => entered.has(id)).map(([id, at]) => Math.max(0, (entered.get(id) ?? 0) - at)),
  );

  // Raw JetStream at the same rate.
  const nc = await connect(up.nats.connectOptions);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "RAW_E2E", subjects: ["rawe2e.>"] });
  await jsm.consumers.add("RAW_E2E", {
    durable_name: "raw",
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: 64,
  });
  const js = jetstream(nc);
  const sent = new Map<number, number>();
  const received = new Map<number, number>();
  const consumer = await js.consumers.get("RAW_E2E", "raw");
  const messages = await consumer.consume({ max_messages: 64 });
  const reading = (async () => {
    for await (const m of messages) {
      received.set(Number(m.headers?.get("n") ?? -1), now());
      m.ack();
      if (received.size >= total) break;
    }
  })();
  const { headers } = await import("@nats-io/nats-core");
  await paced(total, async (i) => {
    const h = headers();
    h.set("n", String(i));
    await js.publish("rawe2e.x", payload, { headers: h });
    sent.set(i, now());
  });
  await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, 60_000))]);
  await messages.close();
  const raw = summarize(
    [...sent].filter(([i]) => received.has(i)).map(([i, at]) => Math.max(0, (received.get(i) ?? 0) - at)),
  );
  await nc.close();
  agent.destroy();

  console.log(`broker-e2e: ${total} events of 1 KiB at ${rate}/s for ${seconds} s, over loopback`);
  console.log(
    `  broker (202 → handler entry)        ${format(broker)}${missing ? `  (${missing} never arrived)` : ""}`,
  );
  console.log(`    cpu/event: ${brokerCpu}`);
  console.log(`  raw JetStream (ack → consumer)      ${format(raw)}`);
  console.log(
    `  broker p99 ${broker.p99.toFixed(1)} ms (target ≤ 15 ms); ${(broker.p99 / Math.max(raw.p99, 0.001)).toFixed(1)}× raw JetStream's p99`,
  );
} finally {
  udp.close();
  await up.stop();
}
