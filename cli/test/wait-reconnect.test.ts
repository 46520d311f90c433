import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createDispatchClients, createDispatchTransport } from "@dispatch/client";
import { ConditionStatus, Phase } from "@dispatch/proto";
import { startDispatch, startTcpRelay } from "@dispatch/testkit";
import test from "ava";

// The real `dispatch` binary, talking to a real control plane through a TCP
// relay that the test cuts while the command waits.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

test("--wait keeps waiting through a cut connection and sees the status written meanwhile", async (t) => {
  const dispatch = await startDispatch();
  t.teardown(() => dispatch.stop());
  const relay = await startTcpRelay(Number(new URL(dispatch.url).port));
  t.teardown(() => relay.close());
  const dir = await mkdtemp(join(tmpdir(), "dispatch-wait-"));
  const manifest = join(dir, "api.yaml");
  await writeFile(manifest, "kind: API\nname: held\nspec: {function: hello, paths: [/held]}\n");

  const child = spawn(process.execPath, [bin, "create", "-f", manifest, "--wait", "--timeout", "2m"], {
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      DISPATCH_CONFIG: join(dir, "config.json"),
      DISPATCH_SERVER: relay.url,
      DISPATCH_TOKEN: dispatch.token,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const printed = (pattern: RegExp) =>
    new Promise<void>((resolve) => {
      if (pattern.test(stderr)) resolve();
      else waiters.push({ pattern, resolve });
    });
  const exited = new Promise<number>((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
  t.teardown(() => {
    child.kill();
  });

  // The watch has the endpoint as created: not yet reconciled.
  await printed(/endpoint\/held: INITIALIZED \(not yet reconciled\)\n/);
  relay.hold();
  const reconnecting = relay.nextConnection();
  relay.cutAll();
  await printed(/endpoint\/held: connection lost \(.*\); watching again\n/);

  // While the command cannot get through, a component reports the endpoint programmed.
  const api = createDispatchClients(createDispatchTransport({ server: dispatch.url, token: dispatch.token }));
  const { endpoint } = await api.endpoints.get({ name: "held" });
  await api.endpoints.updateStatus({
    endpoint: {
      meta: { name: "held", revision: endpoint?.meta?.revision ?? 0n },
      status: {
        phase: Phase.READY,
        observedGeneration: endpoint?.meta?.generation ?? 0n,
        conditions: [{ type: "Programmed", status: ConditionStatus.TRUE, reason: "Accepted" }],
      },
    },
  });
  await reconnecting;
  relay.release();

  t.is(await exited, 0, stderr);
  t.is(stdout, "endpoint/held created\n");
  t.regex(stderr, /endpoint\/held ready\n$/);
});
