/**
 * What subscriptions cost the broker's ingest: HTTP binary-mode ingest of
 * 1 KiB events into a broker with 1,000 subscriptions beside one with a
 * single subscription, same run, same `dispatch up`, in rounds that take
 * turns (`compare.ts`):
 *
 * - org "fan-many": 1,000 subscriptions, a third each exact (`type` =
 *   `fan.exact.<i>`), prefix (`fan.prefix.<i>.`) and CESQL (a prefix on
 *   `fan.sql.<i>.` and `subject LIKE 'x%'`);
 * - org "fan-one": one exact subscription.
 *
 * The events sent (`bench.fan.ingest`) match none of them: what is measured is
 * what the subscriptions' presence costs ingest (each one's consumer reads only
 * the subjects its type filter allows, so none reads these events), not
 * deliveries (`broker-e2e` measures those).
 *
 *   npm run build && node bench/dist/src/broker-fanout.js [events=10000] [subscriptions=1000]
 *
 * Target: fan-many ≥ 0.9× fan-one (events per second).
 */
import { Agent } from "node:http";
import { createDispatchClients, createDispatchTransport, type DispatchClients } from "@dispatch/client";
import { Phase } from "@dispatch/proto";
import { postEvent } from "./broker-post.js";
import { compare } from "./compare.js";
import { startDispatchProcess } from "./process.js";
import { format } from "./stats.js";

const total = Number(process.argv[2] ?? 10_000);
const count = Number(process.argv[3] ?? 1000);
const window = 64;
const data = Buffer.alloc(1024, 7);

const up = await startDispatchProcess();
try {
  const api = createDispatchClients(createDispatchTransport({ server: up.url, token: up.token }));
  for (const org of ["fan-one", "fan-many"]) {
    await api.organizations.create({ organization: { meta: { name: org } } });
    const { source } = await api.sources.upload({
      org,
      format: "file",
      filename: "sink.js",
      data: new TextEncoder().encode("module.exports = async () => null;\n"),
    });
    await api.functions.create({
      function: { meta: { name: "sink", org }, spec: { runtime: "nodejs", ...(source ? { source } : {}) } },
    });
  }
  const filter = (i: number) => {
    switch (i % 3) {
      case 0:
        return [{ dialect: { case: "exact" as const, value: { attributes: { type: `fan.exact.${i}` } } } }];
      case 1:
        return [
          { dialect: { case: "prefix" as const, value: { attributes: { type: `fan.prefix.${i}.` } } } },
        ];
      default:
        return [
          { dialect: { case: "prefix" as const, value: { attributes: { type: `fan.sql.${i}.` } } } },
          { dialect: { case: "sql" as const, value: "subject LIKE 'x%'" } },
        ];
    }
  };
  const started = performance.now();
  await createSubscriptions(api, "fan-one", 1, filter);
  await createSubscriptions(api, "fan-many", count, filter);
  await readyAll(api, "fan-one", 1);
  await readyAll(api, "fan-many", count);
  console.log(
    `broker-fanout: ${count} subscriptions created and READY in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  const agent = new Agent({ keepAlive: true, maxSockets: window });
  let n = 0;
  const post = (org: string) => () =>
    postEvent({
      events: up.events,
      org,
      token: up.token,
      agent,
      id: `fan-${n++}`,
      type: "bench.fan.ingest",
      contentType: "application/octet-stream",
      data,
    });
  const paths = { "1 subscription": post("fan-one"), [`${count} subscriptions`]: post("fan-many") };
  await compare(window, 2000, paths, 2);
  const results = await compare(window, total, paths);
  console.log(`broker-fanout: ${total} events of 1 KiB per path, ${window} in flight, over loopback`);
  for (const [name, r] of Object.entries(results)) {
    console.log(
      `  ${name.padEnd(18)} ${r.rate.toFixed(0).padStart(6)} events/s  ${format(r.summary)}  cpu/event: ${r.cpu}`,
    );
  }
  const one = results["1 subscription"];
  const many = results[`${count} subscriptions`];
  if (one && many) {
    console.log(`  ratio ${count} / 1 subscription: ${(many.rate / one.rate).toFixed(2)}× (target ≥ 0.9×)`);
  }
  agent.destroy();
} finally {
  await up.stop();
}

async function createSubscriptions(
  api: DispatchClients,
  org: string,
  n: number,
  filter: (i: number) => { dialect: { case: "exact" | "prefix" | "sql"; value: unknown } }[],
) {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < n) {
        const i = next++;
        await api.subscriptions.create({
          subscription: {
            meta: { name: `s${i}`, org },
            spec: { function: "sink", filters: filter(i) as never },
          },
        });
      }
    }),
  );
}

/** Waits (watching) until `n` subscriptions of `org` are READY. */
async function readyAll(api: DispatchClients, org: string, n: number) {
  const ready = new Set<string>();
  for await (const event of api.subscriptions.watch({ org }, { signal: AbortSignal.timeout(600_000) })) {
    const sub = event.object;
    if (sub?.meta && sub.status?.phase === Phase.READY) ready.add(sub.meta.name);
    if (ready.size >= n) return;
  }
}
