import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDispatchClients, createDispatchTransport, createWatchCache } from "@dispatch/client";
import type { Run } from "@dispatch/proto";
import { stablePort, startNats } from "@dispatch/testkit";
import test from "ava";

// Crash safety: events sent without pause while the process that runs the
// broker and its dispatchers is killed (SIGKILL) and started again, several
// times, and nats-server is killed once and restarted on its store. Every
// event the ingress acknowledged (202) must reach the subscribed function at
// least once; duplicates are counted and reported.

const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

/** `dispatch up` as its own process: started, and resolved once it says it is up. */
function startUp(args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "up", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Dispatch is up.")) resolve(child);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`dispatch up exited (${code ?? signal}):\n${output}`)),
    );
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    }
  });
}

test("every acknowledged event is delivered at least once through SIGKILLs of the broker's process and a nats-server restart", async (t) => {
  t.timeout(600_000);
  const nats = await startNats();
  const dir = await mkdtemp(join(tmpdir(), "dispatch-events-crash-"));
  const configPath = join(dir, "config.json");
  const env = { ...process.env, DISPATCH_CONFIG: configPath, HOME: dir };
  // Both must be the same after each restart: not ports the system hands out to others.
  const [apiPort, eventsPort] = [await stablePort(), await stablePort()];
  const args = [
    "--data-dir",
    join(dir, "data"),
    "--port",
    String(apiPort),
    "--events-port",
    String(eventsPort),
    "--nats-url",
    nats.urlWithCredentials,
    "--activator-port",
    "0",
    "--gateway-port",
    "0",
    "--gateway-tls-port",
    "0",
    "--xds-port",
    "0",
    "--no-access-log",
    "--runs-per-function",
    "100000",
  ];
  let up = await startUp(args, env);
  t.teardown(async () => {
    await killed(up);
    await nats.stop();
  });
  const cli = (...command: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [bin, ...command], { env }, (error, stdout, stderr) =>
        error ? reject(new Error(`dispatch ${command.join(" ")}: ${stderr}`)) : resolve(stdout),
      ),
    );
  const file = join(dir, "sink.js");
  await writeFile(file, "module.exports = async (context) => context.event.id;\n");
  await cli("create", "function", "sink", file, "--wait");
  await cli("create", "subscription", "crash", "sink", "--event-type", "crash.test", "--wait");
  const { readFile } = await import("node:fs/promises");
  const token = (await readFile(join(dir, "data", "admin.token"), "utf8")).trim();

  // The producer: one event after another, each sent again (same id) until it is acknowledged.
  const acked = new Set<string>();
  let producing = true;
  let refused = 0;
  const producer = (async () => {
    for (let n = 0; producing; n++) {
      const id = `e-${n}`;
      for (;;) {
        try {
          const response = await fetch(`http://127.0.0.1:${eventsPort}/default/default`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${token}`,
              "ce-id": id,
              "ce-source": "/crash-test",
              "ce-type": "crash.test",
              "ce-specversion": "1.0",
              "content-type": "application/json",
            },
            body: JSON.stringify({ n }),
            signal: AbortSignal.timeout(10_000),
          });
          await response.text();
          if (response.status === 202) {
            acked.add(id);
            break;
          }
          refused += 1;
        } catch {
          refused += 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const ackedMore = async (count: number) => {
    const target = acked.size + count;
    while (acked.size < target) await new Promise((resolve) => setTimeout(resolve, 50));
  };

  for (let kill = 1; kill <= 3; kill++) {
    await ackedMore(60);
    await killed(up);
    up = await startUp(args, env);
    t.log(`kill ${kill}: ${acked.size} events acknowledged so far`);
  }
  await ackedMore(60);
  await nats.kill();
  await new Promise((resolve) => setTimeout(resolve, 500));
  await nats.restart();
  t.log(`nats-server killed and restarted: ${acked.size} events acknowledged so far`);
  await ackedMore(60);
  await killed(up);
  up = await startUp(args, env);
  await ackedMore(30);
  producing = false;
  await producer;

  // Every acknowledged event reaches the function (a crashed delivery comes back after the ack wait).
  const clients = createDispatchClients(
    createDispatchTransport({ server: `http://127.0.0.1:${apiPort}`, token }),
  );
  const stop = new AbortController();
  const runs = createWatchCache({
    client: clients.runs,
    request: { function: "sink" },
    signal: AbortSignal.any([stop.signal, AbortSignal.timeout(300_000)]),
    keyOf: (run) => run.meta?.name ?? "",
  });
  const delivered = () => {
    const ids = new Map<string, number>();
    for (const run of runs.list() as Run[]) {
      if (run.status?.finished === undefined || run.status.error !== undefined) continue;
      const id = run.spec?.event?.id ?? "";
      ids.set(id, (ids.get(id) ?? 0) + 1);
    }
    return ids;
  };
  const missing = () => [...acked].filter((id) => !delivered().has(id));
  try {
    await runs.synced;
    if (missing().length > 0) {
      for await (const _batch of runs.changes()) if (missing().length === 0) break;
    }
  } catch (err) {
    t.fail(
      `${missing().length} acknowledged events were never delivered (${missing().slice(0, 10).join(", ")}…): ${err}`,
    );
  } finally {
    stop.abort();
  }
  const counts = delivered();
  const duplicates = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
  t.log(
    `${acked.size} events acknowledged (${refused} sends refused or cut off while a process was down), ` +
      `${counts.size} delivered, ${duplicates} duplicate deliveries (${((100 * duplicates) / Math.max(1, counts.size)).toFixed(1)}%)`,
  );
  t.deepEqual(missing(), []);
  t.true(acked.size >= 300);
});
