/**
 * How soon a second client's Watch sees a change, beside the same delay on a
 * bare NATS KV watch against the same nats-server (the floor Dispatch adds to).
 *
 *   npm run build && node bench/dist/src/watch-latency.js [changes=500]
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { SecretService, WatchEventType } from "@dispatch/proto";
import { startDispatch } from "@dispatch/testkit";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { format, summarize } from "./stats.js";

const changes = Number(process.argv[2] ?? 500);
const dispatch = await startDispatch();

try {
  const transport = (token: string) =>
    createConnectTransport({
      baseUrl: dispatch.url,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        },
      ],
    });
  const writer = createClient(SecretService, transport(dispatch.token));
  const watcher = createClient(SecretService, transport(dispatch.token));
  await writer.create({ secret: { meta: { name: "bench" }, spec: { data: { n: "0" } } } });

  // Dispatch: from the writer sending Update to the watcher receiving the
  // MODIFIED event, both over the API (the event often arrives before the
  // writer's own response does).
  const seen = new Map<string, number>();
  let notify: (() => void) | undefined;
  const abort = new AbortController();
  const watching = (async () => {
    for await (const event of watcher.watch({ name: "bench", reveal: true }, { signal: abort.signal })) {
      if (event.type !== WatchEventType.MODIFIED) continue;
      seen.set(event.object?.spec?.data.n ?? "", performance.now());
      notify?.();
    }
  })().catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 200));

  const api: number[] = [];
  for (let i = 1; i <= changes; i++) {
    const arrived = new Promise<void>((resolve) => {
      notify = resolve;
    });
    const sent = performance.now();
    await writer.update({ secret: { meta: { name: "bench" }, spec: { data: { n: String(i) } } } });
    if (!seen.has(String(i))) await arrived;
    api.push((seen.get(String(i)) ?? sent) - sent);
  }
  abort.abort();
  await watching;

  // Baseline: a bare KV put and a bare KV watch on the same nats-server.
  const nc = await connect(dispatch.nats.connectOptions);
  const kv = await new Kvm(jetstream(nc)).create("bench-baseline", { history: 1 });
  await kv.put("k", "0");
  const kvWatch = await kv.watch({ key: "k" });
  const kvSeen = new Map<string, number>();
  let kvNotify: (() => void) | undefined;
  const kvLoop = (async () => {
    for await (const entry of kvWatch) {
      kvSeen.set(entry.string(), performance.now());
      kvNotify?.();
    }
  })();
  const base: number[] = [];
  for (let i = 1; i <= changes; i++) {
    const arrived = new Promise<void>((resolve) => {
      kvNotify = resolve;
    });
    const sent = performance.now();
    await kv.put("k", String(i));
    if (!kvSeen.has(String(i))) await arrived;
    base.push((kvSeen.get(String(i)) ?? sent) - sent);
  }
  kvWatch.stop();
  await kvLoop;
  await nc.close();

  const a = summarize(api);
  const b = summarize(base);
  console.log(`watch latency, write sent -> second client's Watch event (${changes} changes)`);
  console.log(`  dispatch Watch (Connect, HTTP/1.1):  ${format(a)}`);
  console.log(`  baseline bare NATS KV watch:         ${format(b)}`);
  console.log(`  ratio p50 ${(a.p50 / b.p50).toFixed(2)}x  p95 ${(a.p95 / b.p95).toFixed(2)}x`);
} finally {
  await dispatch.stop();
}
