import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { startDispatch, startNats } from "@dispatch/testkit";
import test from "ava";

const fixture = fileURLToPath(new URL("./fixtures/start-that-fails.js", import.meta.url));

/**
 * Runs a start that fails in a process of its own, to its end: a start that
 * left anything behind (above all its NATS connection, which reconnects
 * forever) would keep that process from ending.
 */
function failToStart(settings: object): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [fixture, JSON.stringify(settings)], (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

test("a failed start closes what it opened, its NATS connection included, wherever it fails: the process ends by itself", async (t) => {
  const nats = await startNats();
  t.teardown(() => nats.stop());
  const connection = {
    servers: nats.url,
    user: nats.credentials?.user,
    password: nats.credentials?.password,
  };
  const key = randomBytes(32);
  // The store is set up with this key; another one is refused once connected.
  const first = await startDispatch({ nats, secretKey: key });
  await first.stop();

  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const secretKey = key.toString("base64");
  const [wrongKey, apiPort, activatorPort, badToken] = await Promise.all([
    // Right after connecting.
    failToStart({ nats: connection, secretKey: randomBytes(32).toString("base64") }),
    // After the stores, tokens and function machinery (activator, scheduler) have started: the API's port is taken.
    failToStart({ nats: connection, secretKey, port }),
    // Midway through the function machinery: the activator's port is taken.
    failToStart({ nats: connection, secretKey, activatorPort: port }),
    // After the token registry started: a bootstrap token for an org that does not exist.
    failToStart({ nats: connection, secretKey, tokenOrg: "nope" }),
  ]);

  for (const [name, result, message] of [
    ["wrong secret key", wrongKey, /the secret encryption key differs/],
    ["API port in use", apiPort, /EADDRINUSE/],
    ["activator port in use", activatorPort, /EADDRINUSE/],
    ["bootstrap token of a missing org", badToken, /organization "nope" does not exist/],
  ] as const) {
    t.is(result.code, 0, `${name}: the process ended by itself: ${result.output}`);
    t.regex(result.output, message, name);
  }
});
