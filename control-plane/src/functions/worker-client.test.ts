import { createServer, type RequestListener, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import type { InstanceExit } from "@dispatch/server-kit";
import test from "ava";
import type { Instance } from "./revision-pool.js";
import { callWorker, fetchWorkerStats, passThrough, WorkerCallError } from "./worker-client.js";

// The client's side of the worker contract, against HTTP servers that break
// it on purpose (real workers keep it; test/functions.test.ts runs those).

async function serve(
  handler: RequestListener,
): Promise<{ server: Server; instance: Instance; exit(): void }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let exit!: (e: InstanceExit) => void;
  const exited = new Promise<InstanceExit>((resolve) => {
    exit = resolve;
  });
  const instance: Instance = {
    id: "fake",
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: "test-token",
    exited,
  };
  return { server, instance, exit: () => exit({ code: 0, signal: null, stopped: true }) };
}

const body = { payload: null, context: {} };

test("an answer that does not follow the contract is a clear error, not a crash later", async (t) => {
  const { server, instance } = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });
  const err = await t.throwsAsync(callWorker(instance, body, 5_000), { instanceOf: WorkerCallError });
  t.regex(err?.message ?? "", /does not follow the contract/);
  t.false(err?.notSent);
  server.close();
});

test("a refused connection means the call was not sent (it may go elsewhere)", async (t) => {
  const { server, instance } = await serve(() => {});
  await new Promise((resolve) => server.close(resolve));
  const err = await t.throwsAsync(callWorker(instance, body, 5_000), { instanceOf: WorkerCallError });
  t.true(err?.notSent);
  t.false(err?.timedOut);
});

test("a worker that drops the connection during the call: the call was sent, and failed", async (t) => {
  const { server, instance } = await serve((req) => req.socket.destroy());
  const err = await t.throwsAsync(callWorker(instance, body, 5_000), { instanceOf: WorkerCallError });
  t.false(err?.notSent);
  t.regex(err?.message ?? "", /worker stopped during the call/);
  server.close();
});

test("no answer within the backstop is a timeout", async (t) => {
  const { server, instance } = await serve(() => {});
  const err = await t.throwsAsync(callWorker(instance, body, 300), { instanceOf: WorkerCallError });
  t.true(err?.timedOut);
  server.closeAllConnections();
  server.close();
});

test("after the instance ended, calls to it are refused without touching the network", async (t) => {
  const { server, instance, exit } = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"output":1,"error":null,"logs":{"stdout":[],"stderr":[]},"durationMs":0.5}');
  });
  t.is((await callWorker(instance, body, 5_000)).output, 1);
  exit();
  await instance.exited;
  await new Promise((resolve) => setImmediate(resolve));
  const err = await t.throwsAsync(callWorker(instance, body, 5_000), { instanceOf: WorkerCallError });
  t.true(err?.notSent);
  server.close();
});

test("an answer larger than any run record could hold is not read into memory: a clear error", async (t) => {
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  const { server, instance } = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    // Endless: the client must stop reading on its own.
    const write = () => {
      while (res.write(chunk)) {}
      res.once("drain", write);
    };
    res.on("error", () => undefined);
    write();
  });
  const err = await t.throwsAsync(callWorker(instance, body, 60_000), { instanceOf: WorkerCallError });
  t.regex(err?.message ?? "", /^the worker's answer \(the call's output and logs\) is more than 64 MiB/);
  t.false(err?.notSent);
  server.closeAllConnections();
  server.close();
});

/** A request body that counts what was read of it. */
function countedBody(text: string): { body: Readable; read(): number } {
  let read = 0;
  const body = new Readable({
    read() {
      read += text.length;
      this.push(text);
      this.push(null);
    },
  });
  return { body, read: () => read };
}

/** A response to pass an answer to, whose text can be awaited. */
async function capture(): Promise<{ response: ServerResponse; text: Promise<string>; close(): void }> {
  let settle!: (text: string) => void;
  const text = new Promise<string>((resolve) => {
    settle = resolve;
  });
  let response!: ServerResponse;
  const ready = new Promise<void>((resolve) => {
    const server = createServer((_req, res) => {
      response = res;
      resolve();
    });
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      void fetch(`http://127.0.0.1:${port}/`).then(async (r) => settle(`${r.status} ${await r.text()}`));
      closeServer = () => {
        server.closeAllConnections();
        server.close();
      };
    });
  });
  let closeServer = () => {};
  await ready;
  return { response, text, close: () => closeServer() };
}

test("pass-through: a refused connection leaves the request body unread, so the call can be made elsewhere", async (t) => {
  const { server: gone, instance: refusing } = await serve(() => {});
  await new Promise((resolve) => gone.close(resolve));
  const { body, read } = countedBody("the body");
  const first = await capture();
  const err = await t.throwsAsync(
    passThrough(
      refusing,
      { method: "POST", target: "/x", headers: {}, body, response: first.response },
      {},
      5_000,
    ),
    { instanceOf: WorkerCallError },
  );
  t.true(err?.notSent);
  t.is(read(), 0, "nothing of the body was read");
  t.false(first.response.headersSent);
  first.response.end();
  first.close();

  const { server, instance } = await serve((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      res.writeHead(201, { "content-type": "text/plain", "dispatch-logs": "e30=" });
      res.end(`got ${Buffer.concat(chunks).toString()} at ${req.url}`);
    });
  });
  const second = await capture();
  const head = await passThrough(
    instance,
    { method: "POST", target: "/x?y=1", headers: {}, body, response: second.response },
    {},
    5_000,
  );
  t.is(head.status, 201);
  t.is(head.headers["dispatch-logs"], "e30=", "the worker's record headers are returned");
  t.is(await second.text, "201 got the body at /http/x?y=1");
  second.close();
  server.close();
});

test("a load report is read with the instance's credential and checked against the contract", async (t) => {
  const answers = [
    '{"inFlight":3,"idleMs":0,"calls":9,"draining":false}',
    '{"inFlight":-1,"idleMs":0,"calls":9,"draining":false}',
    '{"inFlight":1.5,"idleMs":0,"calls":9}',
    '{"inFlight":1e12,"idleMs":0,"calls":9}',
    '{"inFlight":1,"idleMs":"soon","calls":9}',
    "[]",
    "not json",
  ];
  const tokens: Array<string | undefined> = [];
  const { server, instance } = await serve((req, res) => {
    tokens.push(req.headers["dispatch-worker-token"] as string | undefined);
    t.is(req.url, "/stats");
    res.writeHead(200, { "content-type": "application/json" });
    res.end(answers.shift());
  });
  t.deepEqual(await fetchWorkerStats(instance, 5_000), {
    ok: true,
    stats: { inFlight: 3, idleMs: 0, calls: 9, draining: false },
  });
  for (let i = 0; i < 6; i++)
    t.deepEqual(await fetchWorkerStats(instance, 5_000), { ok: false, failure: "invalid" });
  t.true(tokens.every((token) => token === "test-token"));
  server.close();
});

test("a load report that does not come: gone when refused, timeout when the worker is silent", async (t) => {
  const silent = await serve(() => {});
  t.deepEqual(await fetchWorkerStats(silent.instance, 300), { ok: false, failure: "timeout" });
  silent.server.closeAllConnections();
  await new Promise((resolve) => silent.server.close(resolve));
  t.deepEqual(await fetchWorkerStats(silent.instance, 5_000), { ok: false, failure: "gone" });
  const refusing = await serve((_req, res) => {
    res.writeHead(401);
    res.end();
  });
  t.deepEqual(await fetchWorkerStats(refusing.instance, 5_000), { ok: false, failure: "invalid" });
  refusing.server.close();
});
