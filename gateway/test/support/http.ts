/** Test scaffolding: real HTTP upstreams and a small HTTP client. */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";

export interface Upstream {
  readonly name: string;
  readonly port: number;
  /** Requests received, in order. */
  readonly received: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[];
  /** Replaces how requests are answered (default: a JSON echo). */
  handle(
    handler: ((req: http.IncomingMessage, res: http.ServerResponse, body: string) => void) | undefined,
  ): void;
  close(): Promise<void>;
}

/**
 * An upstream that echoes each request as JSON (`{upstream, method, url,
 * headers, body}`), unless told otherwise.
 */
export async function startUpstream(name: string): Promise<Upstream> {
  let custom: ((req: http.IncomingMessage, res: http.ServerResponse, body: string) => void) | undefined;
  const received: Upstream["received"] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      if (custom) return custom(req, res, body);
      const payload = JSON.stringify({
        upstream: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body,
      });
      res.writeHead(200, { "content-type": "application/json", "x-upstream": name }).end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    received,
    handle(handler) {
      custom = handler;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** One request; `host` sets the Host header. Keep-alive connections come from `agent`. */
export function call(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    host?: string;
    agent?: http.Agent;
    ca?: string;
  } = {},
): Promise<Answer> {
  const target = new URL(url);
  const client = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: options.method ?? "GET",
        headers: { ...(options.host ? { host: options.host } : {}), ...options.headers },
        ...(options.agent ? { agent: options.agent } : {}),
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}
