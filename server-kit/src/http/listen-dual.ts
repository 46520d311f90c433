import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

type Handler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

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
  // Requests in flight per HTTP/1.1 connection, so shutdown can close the idle
  // ones at once and the busy ones as soon as their last response is done.
  const h1Active = new Map<net.Socket, number>();
  let closing = false;
  const h1 = http.createServer((req, res) => {
    const socket = req.socket;
    h1Active.set(socket, (h1Active.get(socket) ?? 0) + 1);
    if (closing) res.setHeader("connection", "close");
    res.once("close", () => {
      const left = (h1Active.get(socket) ?? 1) - 1;
      h1Active.set(socket, left);
      if (closing && left === 0) socket.end();
    });
    (handler as http.RequestListener)(req, res);
  });
  h1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer(
    {},
    handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
  );
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
      const isH2 = first
        .subarray(0, Math.min(first.length, h2Preface.length))
        .equals(h2Preface.subarray(0, Math.min(first.length, h2Preface.length)));
      if (!isH2) {
        h1Active.set(socket, 0);
        socket.once("close", () => h1Active.delete(socket));
      }
      // Both servers pick up the unshifted bytes: HTTP/1.1 reads the stream
      // (resumed here, as it was paused above); HTTP/2 hands the buffered
      // bytes to its native session, and resuming would race it for the socket.
      if (isH2) {
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
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
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // HTTP/2: GOAWAY, streams in flight finish. HTTP/1.1: idle connections
      // close now, busy ones after their response (see the request wrapper).
      for (const session of sessions) session.close();
      for (const [socket, active] of h1Active) if (active === 0) socket.end();
      const deadline = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      deadline.unref();
      await closed;
      clearTimeout(deadline);
    },
  };
}
