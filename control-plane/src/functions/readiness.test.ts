import { createServer, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import test from "ava";
import { waitUntilReady } from "./readiness.js";

// The driver's readiness probe against HTTP servers that are slow to become ready on purpose.

async function serve(handler: RequestListener): Promise<{ url: string; close(): void }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => server.close(),
  };
}

/** Far away: these tests must not depend on how fast the machine is. */
const later = () => Date.now() + 60_000;

test("a probe that fails is retried until the worker answers 200", async (t) => {
  let probes = 0;
  const server = await serve((req, res) => {
    probes++;
    if (probes === 1) return req.socket.destroy();
    res.writeHead(probes < 4 ? 503 : 200).end();
  });
  t.teardown(server.close);
  t.true(await waitUntilReady(server.url, later()));
  t.is(probes, 4, "a reset and two 503s, then ready");
});

test("a worker that is not listening yet is probed again until it is", async (t) => {
  const placeholder = await serve(() => {});
  const url = placeholder.url;
  placeholder.close();
  const ready = waitUntilReady(url, later());
  // Nothing listens there (connection refused) until the server below starts on that port.
  const { port } = new URL(url);
  const server = createServer((_, res) => res.writeHead(200).end());
  await new Promise<void>((resolve) => server.listen(Number(port), "127.0.0.1", resolve));
  t.teardown(() => server.close());
  t.true(await ready);
});

test("a probe that never answers 200 gives up at the deadline, not before", async (t) => {
  let probes = 0;
  const server = await serve((_, res) => {
    probes++;
    res.writeHead(503).end();
  });
  t.teardown(server.close);
  // How many probes fit before the deadline depends on the machine; that failed probes are
  // tried again is the first test's claim. This one: false, and only once the deadline passed.
  const deadline = Date.now() + 300;
  t.false(await waitUntilReady(server.url, deadline));
  t.true(Date.now() >= deadline, "it kept probing until the deadline");
  t.true(probes >= 1, "it probed");
});

test("a worker that ends stops the wait at once", async (t) => {
  const server = await serve((_, res) => res.writeHead(503).end());
  t.teardown(server.close);
  let end!: () => void;
  const gone = new Promise<void>((resolve) => {
    end = resolve;
  });
  const ready = waitUntilReady(server.url, later(), gone);
  end();
  t.false(await ready);
});
