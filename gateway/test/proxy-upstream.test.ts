import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import test from "ava";
import { edsCluster, listener, loadAssignment, rds, routeConfig } from "./support/envoy.js";
import { withGateway } from "./support/gateway.js";
import { call } from "./support/http.js";

/** A raw upstream for streaming tests: the handler gets the request unread. */
async function rawUpstream(t: { teardown(fn: () => Promise<void>): void }, handler: http.RequestListener) {
  let connections = 0;
  const server = http.createServer(handler);
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function forwardTo(cluster: string, action: Record<string, unknown> = {}) {
  return routeConfig({
    name: "routes",
    virtualHosts: [
      {
        name: "all",
        domains: ["*"],
        routes: [
          {
            name: "fn",
            match: { pathSpecifier: { case: "prefix", value: "/" } },
            action: {
              case: "route",
              value: { clusterSpecifier: { case: "cluster", value: cluster }, ...action },
            },
          },
        ],
      },
    ],
  });
}

function config(endpoints: readonly (readonly [string, number])[], action: Record<string, unknown> = {}) {
  return {
    listeners: [listener("http", { routeSpecifier: rds("routes") })],
    routes: [forwardTo("fn", action)],
    clusters: [edsCluster("fn")],
    endpoints: [loadAssignment("fn", endpoints)],
  };
}

test("streaming: the response reaches the client while the upstream is still writing it", async (t) => {
  let gotFirst!: () => void;
  const firstSeen = new Promise<void>((resolve) => {
    gotFirst = resolve;
  });
  const upstream = await rawUpstream(t, (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first;");
    // Only once the client has the first part does the rest come: a buffering proxy would never finish.
    firstSeen.then(() => res.end("second"));
  });
  const { url } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get(`${url}/stream`, (res) => {
        let all = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          all += chunk;
          if (all.includes("first;")) gotFirst();
        });
        res.on("end", () => resolve(all));
      })
      .on("error", reject);
  });
  t.is(text, "first;second");
});

test("streaming: the request body reaches the upstream while the client is still sending it, and large bodies pass whole", async (t) => {
  let gotFirst!: () => void;
  const firstSeen = new Promise<void>((resolve) => {
    gotFirst = resolve;
  });
  const upstream = await rawUpstream(t, (req, res) => {
    const hash = createHash("sha256");
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
      gotFirst();
    });
    req.on("end", () => res.writeHead(200).end(JSON.stringify({ size, sha256: hash.digest("hex") })));
  });
  const { url } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  const answer = await new Promise<string>((resolve, reject) => {
    const req = http.request(`${url}/upload`, { method: "POST" }, (res) => {
      let all = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        all += c;
      });
      res.on("end", () => resolve(all));
    });
    req.on("error", reject);
    req.write(big.subarray(0, 1024));
    // The rest is sent only after the upstream has the first part.
    firstSeen.then(() => req.end(big.subarray(1024)));
  });
  t.deepEqual(JSON.parse(answer), {
    size: big.length,
    sha256: createHash("sha256").update(big).digest("hex"),
  });
});

test("upstream pool: sequential requests reuse one kept-alive upstream connection", async (t) => {
  const upstream = await rawUpstream(t, (_req, res) => res.writeHead(200).end("ok"));
  const { url } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  for (let i = 0; i < 5; i++) t.is((await call(`${url}/${i}`)).status, 200);
  t.is(upstream.connections(), 1);
});

test("upstream pool: an upstream that announces a short keep-alive has its idle connection closed by the gateway first, and the next request takes a new one", async (t) => {
  // The upstream announces `Keep-Alive: timeout=2` but would wait 20 s itself: the gateway's pool
  // lets the connection go a second before what was announced, so only the gateway can close it.
  const server = http.createServer((_req, res) =>
    res.writeHead(200, { connection: "keep-alive", "keep-alive": "timeout=2" }).end("ok"),
  );
  server.keepAliveTimeout = 20_000;
  const closes: { peerEnded: boolean; timedOut: boolean }[] = [];
  let connections = 0;
  server.on("connection", (socket) => {
    connections++;
    const seen = { peerEnded: false, timedOut: false };
    socket.once("end", () => {
      seen.peerEnded = true;
    });
    socket.once("timeout", () => {
      seen.timedOut = true;
    });
    socket.once("close", () => closes.push(seen));
  });
  const firstClosed = new Promise<void>((resolve) =>
    server.once("connection", (socket: Socket) => socket.once("close", () => resolve())),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  const { url } = await withGateway(t, [], () => config([["127.0.0.1", port]]));

  t.is((await call(`${url}/first`)).status, 200);
  await firstClosed;
  t.deepEqual(
    closes,
    [{ peerEnded: true, timedOut: false }],
    "the gateway closed it; the upstream did not time out",
  );
  t.is((await call(`${url}/second`)).status, 200);
  t.is(connections, 2);
});

test("retries: a 503 is retried, the body is sent again, and the access log counts the attempts", async (t) => {
  const bodies: string[] = [];
  const upstream = await rawUpstream(t, (req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => {
      bodies.push(body);
      if (bodies.length === 1) res.writeHead(503).end("busy");
      else res.writeHead(200).end("done");
    });
  });
  const { url, logEntry } = await withGateway(t, [], () =>
    config([["127.0.0.1", upstream.port]], { retryPolicy: { retryOn: "5xx", numRetries: 2 } }),
  );
  const answer = await call(`${url}/work`, { method: "POST", body: "payload" });
  t.is(answer.status, 200);
  t.is(answer.body, "done");
  t.deepEqual(bodies, ["payload", "payload"]);
  t.is((await logEntry((e) => e.path === "/work"))?.attempts, 2);
});

test("retries: a refused connection moves to the next host; without retries it is a 503", async (t) => {
  const dead = await deadPort();
  const upstream = await rawUpstream(t, (_req, res) => res.writeHead(200).end("alive"));
  const { url, logEntry } = await withGateway(t, [], () =>
    config(
      [
        ["127.0.0.1", dead],
        ["127.0.0.1", upstream.port],
      ],
      { retryPolicy: { retryOn: "connect-failure", numRetries: 1 } },
    ),
  );
  const answer = await call(`${url}/a`);
  t.is(answer.status, 200);
  t.is(answer.body, "alive");
  t.like(await logEntry((e) => e.path === "/a"), { attempts: 2, upstream: `127.0.0.1:${upstream.port}` });
});

test("retries: the retry budget ends with the upstream's own answer", async (t) => {
  let calls = 0;
  const upstream = await rawUpstream(t, (_req, res) => {
    calls++;
    res.writeHead(503, { "content-type": "text/plain" }).end(`busy ${calls}`);
  });
  const { url } = await withGateway(t, [], () =>
    config([["127.0.0.1", upstream.port]], { retryPolicy: { retryOn: "gateway-error", numRetries: 2 } }),
  );
  const answer = await call(`${url}/x`);
  t.is(answer.status, 503);
  t.is(answer.body, "busy 3", "the last attempt's response, untouched");
  t.is(calls, 3);
});

test("retries: never once the response has started; a broken response breaks the client's", async (t) => {
  let calls = 0;
  const upstream = await rawUpstream(t, (_req, res) => {
    calls++;
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("partial", () => res.socket?.destroy());
  });
  const { url, logEntry } = await withGateway(t, [], () =>
    config([["127.0.0.1", upstream.port]], {
      retryPolicy: { retryOn: "5xx,reset,connect-failure", numRetries: 3 },
    }),
  );
  await t.throwsAsync(call(`${url}/broken`));
  t.is(calls, 1);
  const line = await logEntry((e) => e.path === "/broken");
  t.is(line.status, 200);
  t.is(line.attempts, 1);
});

test("timeouts: the route timeout answers 504 when the upstream does not", async (t) => {
  const upstream = await rawUpstream(t, () => {
    // Never answers.
  });
  const { url, logEntry } = await withGateway(t, [], () =>
    config([["127.0.0.1", upstream.port]], { timeout: durationFromMs(300) }),
  );
  const answer = await call(`${url}/slow`);
  t.is(answer.status, 504);
  t.deepEqual(JSON.parse(answer.body), {
    error: { type: "SystemError", message: "upstream request timeout" },
  });
  t.is((await logEntry((e) => e.path === "/slow"))?.flags, "UT");
});

test("timeouts: a per-try timeout ends an attempt and the retry answers", async (t) => {
  let calls = 0;
  const upstream = await rawUpstream(t, (_req, res) => {
    calls++;
    if (calls > 1) res.writeHead(200).end("second try");
  });
  const { url } = await withGateway(t, [], () =>
    config([["127.0.0.1", upstream.port]], {
      timeout: durationFromMs(0),
      retryPolicy: { retryOn: "5xx", numRetries: 1, perTryTimeout: durationFromMs(2_000) },
    }),
  );
  const answer = await call(`${url}/flaky`);
  t.is(answer.status, 200);
  t.is(answer.body, "second try");
  t.is(calls, 2);
});

test("retries: a body larger than the route's buffer limit goes upstream once and is not retried", async (t) => {
  let calls = 0;
  const upstream = await rawUpstream(t, (req, res) => {
    calls++;
    req.resume();
    req.on("end", () => res.writeHead(503).end("busy"));
  });
  const { url } = await withGateway(t, [], () => ({
    ...config([["127.0.0.1", upstream.port]]),
    routes: [
      routeConfig({
        name: "routes",
        virtualHosts: [
          {
            name: "all",
            domains: ["*"],
            perRequestBufferLimitBytes: 1024,
            routes: [
              {
                match: { pathSpecifier: { case: "prefix", value: "/" } },
                action: {
                  case: "route",
                  value: {
                    clusterSpecifier: { case: "cluster", value: "fn" },
                    retryPolicy: { retryOn: "5xx", numRetries: 2 },
                  },
                },
              },
            ],
          },
        ],
      }),
    ],
  }));
  t.is((await call(`${url}/small`, { method: "POST", body: "x".repeat(100) })).status, 503);
  t.is(calls, 3, "a small body is retried");
  calls = 0;
  const big = await call(`${url}/big`, { method: "POST", body: "x".repeat(4096) });
  t.is(big.status, 503);
  t.is(calls, 1, "a body past the buffer limit cannot be sent again");
});

test("timeouts: a request whose body does not arrive within request_timeout gets a 408", async (t) => {
  const upstream = await rawUpstream(t, (req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200).end("never"));
  });
  const { url, logEntry } = await withGateway(t, [], () => ({
    ...config([["127.0.0.1", upstream.port]]),
    listeners: [listener("http", { routeSpecifier: rds("routes"), requestTimeout: durationFromMs(300) })],
  }));
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(
      `${url}/upload`,
      { method: "POST", headers: { "content-length": "100" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.write("only part of it");
  });
  t.is(answer.status, 408);
  t.deepEqual(JSON.parse(answer.body), { error: { type: "InputError", message: "request timeout" } });
  t.is((await logEntry((e) => e.path === "/upload")).flags, "DT");
});

/** Resolves when `emitter` emits `event` (tests wait on events, not on time). */
function once(emitter: NodeJS.EventEmitter, event: string): Promise<void> {
  return new Promise((resolve) => emitter.once(event, () => resolve()));
}

/**
 * An upstream that starts every response and never finishes it; `closed`
 * resolves (with whether the response had finished) once the gateway's side
 * of a request goes away.
 */
async function endlessUpstream(t: { teardown(fn: () => Promise<void>): void }) {
  let onClosed!: (finished: boolean) => void;
  const closed = new Promise<boolean>((resolve) => {
    onClosed = resolve;
  });
  let onRequest!: () => void;
  const requested = new Promise<void>((resolve) => {
    onRequest = resolve;
  });
  const upstream = await rawUpstream(t, (req, res) => {
    req.resume();
    res.once("close", () => onClosed(res.writableFinished));
    onRequest();
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first;");
  });
  return { ...upstream, closed, requested };
}

/** GETs `url` and resolves with the response once its first bytes are in. */
function firstBytes(
  url: string,
): Promise<{ req: http.ClientRequest; res: http.IncomingMessage; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      res.setEncoding("utf8");
      res.once("data", (chunk: string) => resolve({ req, res, text: chunk }));
    });
    req.on("error", reject);
  });
}

test("streaming: a client that goes away mid-response ends the upstream request", async (t) => {
  const upstream = await endlessUpstream(t);
  const { url, logEntry } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  const { req, res, text } = await firstBytes(`${url}/leave`);
  t.is(text, "first;");
  res.on("error", () => {});
  req.destroy();
  t.false(await upstream.closed, "the upstream response was cut off, not finished");
  t.like(await logEntry((e) => e.path === "/leave"), { status: 200, attempts: 1 });
});

test("streaming: a client that goes away before the upstream answers ends the upstream request; the log says DC", async (t) => {
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    onClosed = resolve;
  });
  let onRequest!: () => void;
  const requested = new Promise<void>((resolve) => {
    onRequest = resolve;
  });
  const upstream = await rawUpstream(t, (req, res) => {
    req.resume();
    res.once("close", () => onClosed());
    onRequest();
    // Never answers.
  });
  const { url, logEntry } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  const req = http.get(`${url}/early`);
  req.on("error", () => {});
  await requested;
  req.destroy();
  await closed;
  t.like(await logEntry((e) => e.path === "/early"), { status: 0, flags: "DC" });
});

test("streaming: an upstream that breaks off mid-body ends the client's response; the log says UPE", async (t) => {
  const upstream = await rawUpstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("partial", () => res.socket?.destroy());
  });
  const { url, logEntry } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  const { res, text } = await firstBytes(`${url}/cut`);
  t.is(text, "partial");
  res.on("error", () => {});
  await once(res, "close");
  t.false(res.complete, "the client's response ended before its end");
  t.like(await logEntry((e) => e.path === "/cut"), { status: 200, flags: "UPE", attempts: 1 });
});

test("timeouts: the route timeout cuts off a response still streaming and ends the upstream request", async (t) => {
  const upstream = await endlessUpstream(t);
  // Long enough for the first bytes to arrive on a loaded machine; the stream never ends before it.
  const { url, logEntry } = await withGateway(t, [], () =>
    config([["127.0.0.1", upstream.port]], { timeout: durationFromMs(5_000) }),
  );
  const { res, text } = await firstBytes(`${url}/endless`);
  t.is(text, "first;");
  res.on("error", () => {});
  await once(res, "close");
  t.false(res.complete);
  t.false(await upstream.closed);
  t.like(await logEntry((e) => e.path === "/endless"), { status: 200, flags: "UT" });
});

test("upstream pool: a streamed response ends cleanly and its connection carries the next request", async (t) => {
  const upstream = await rawUpstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("a;");
    setImmediate(() => res.end("b"));
  });
  const { url, logEntry } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  for (let i = 0; i < 3; i++) {
    const answer = await call(`${url}/s${i}`, { method: "POST", body: "x" });
    t.is(answer.status, 200);
    t.is(answer.body, "a;b");
    t.like(await logEntry((e) => e.path === `/s${i}`), { status: 200, flags: "", attempts: 1 });
  }
  t.is(upstream.connections(), 1);
});

test("streaming: a large response reaches a client that keeps pausing, whole and in order", async (t) => {
  const chunk = 64 * 1024;
  const chunks = 256;
  const expected = createHash("sha256");
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks; i++) {
    const part = Buffer.alloc(chunk, i % 251);
    parts.push(part);
    expected.update(part);
  }
  const upstream = await rawUpstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/octet-stream" });
    let i = 0;
    // Writes as fast as the gateway takes it: the client's pauses reach back here.
    const more = () => {
      while (i < chunks) {
        if (!res.write(parts[i++])) return void res.once("drain", more);
      }
      res.end();
    };
    more();
  });
  const { url, logEntry } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  const got = await new Promise<{ size: number; sha256: string }>((resolve, reject) => {
    http
      .get(`${url}/large`, (res) => {
        const hash = createHash("sha256");
        let size = 0;
        res.on("data", (c: Buffer) => {
          hash.update(c);
          size += c.length;
          res.pause();
          setImmediate(() => res.resume());
        });
        res.on("end", () => resolve({ size, sha256: hash.digest("hex") }));
        res.on("error", reject);
      })
      .on("error", reject);
  });
  t.deepEqual(got, { size: chunk * chunks, sha256: expected.digest("hex") });
  t.like(await logEntry((e) => e.path === "/large"), { status: 200, flags: "" });
});

test("headers: repeated request headers reach the upstream as node:http sends them (cookies joined, others one line each)", async (t) => {
  let seen: string[] = [];
  const upstream = await rawUpstream(t, (req, res) => {
    seen = req.rawHeaders;
    req.resume();
    res.writeHead(200, { "x-twice": ["1", "2"], "content-type": "text/plain" }).end("ok");
  });
  const { url } = await withGateway(t, [], () => config([["127.0.0.1", upstream.port]]));
  const answer = await new Promise<{ raw: string[] }>((resolve, reject) => {
    const req = http.request(
      `${url}/twice`,
      {
        // A flat list, so that node:http sends each line as given (and no Host of its own).
        headers: [
          "host",
          new URL(url).host,
          "x-multi",
          "a",
          "cookie",
          "c=1",
          "x-other",
          "o",
          "x-multi",
          "b",
          "cookie",
          "d=2",
        ] as unknown as http.OutgoingHttpHeaders,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ raw: res.rawHeaders }));
      },
    );
    req.on("error", reject);
    req.end();
  });
  const pairs = (raw: string[]) => {
    const out: [string, string][] = [];
    for (let i = 0; i + 1 < raw.length; i += 2)
      out.push([(raw[i] as string).toLowerCase(), raw[i + 1] as string]);
    return out;
  };
  const up = pairs(seen);
  t.deepEqual(
    up.filter(([n]) => n === "x-multi").map(([, v]) => v),
    ["a", "b"],
  );
  t.deepEqual(
    up.filter(([n]) => n === "cookie").map(([, v]) => v),
    ["c=1; d=2"],
  );
  t.deepEqual(
    up.filter(([n]) => n === "x-other").map(([, v]) => v),
    ["o"],
  );
  t.deepEqual(
    pairs(answer.raw)
      .filter(([n]) => n === "x-twice")
      .map(([, v]) => v),
    ["1", "2"],
  );
});
