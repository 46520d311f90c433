/**
 * The upstream of the gateway bench: a plain `node:http` server that reads a
 * JSON body and answers JSON (`{"hello": name}`), as a warm worker's handler
 * would, without the worker's own contract around it, so that what the
 * proxies in front of it add is all that differs between the paths.
 *
 *   forked: json-upstream.js   → sends `{port}` to its parent once it listens
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    let name: unknown = null;
    try {
      name = (JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { name?: unknown }).name ?? null;
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":"not JSON"}');
      return;
    }
    const body = JSON.stringify({ hello: name });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on("disconnect", () => {
  server.close();
  server.closeAllConnections();
});
