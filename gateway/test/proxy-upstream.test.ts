import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
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
