import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** A cleartext server that speaks HTTP/1.1 and HTTP/2 (h2c, prior knowledge) on one port. */
export interface DualServer {
  /** The bound port (useful after listening on port 0). */
  port: number;
  /** Stops accepting, lets in-flight requests finish, then closes connections. */
  close(graceMs: number): Promise<void>;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Listens on host:port and hands each connection to an HTTP/2 or an HTTP/1.1
 * server depending on its first bytes. gRPC needs HTTP/2; Connect, gRPC-Web
 * and curl work on both.
 */
export async function listenDual(handler: Handler, host: string, port: number): Promise<DualServer> {
  const h1 = http.createServer(handler as http.RequestListener);
  h1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", (first) => {
      socket.pause();
      socket.unshift(first);
      const isH2 = first.subarray(0, Math.min(first.length, h2Preface.length)).equals(h2Preface.subarray(0, Math.min(first.length, h2Preface.length)));
      (isH2 ? h2 : h1).emit("connection", socket);
      socket.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      h1.closeIdleConnections();
      const deadline = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      deadline.unref();
      // In-flight HTTP/1.1 requests finish; idle keep-alive sockets close.
      h1.close();
      const drain = setInterval(() => h1.closeIdleConnections(), 50);
      await closed;
      clearInterval(drain);
      clearTimeout(deadline);
    },
  };
}
