import { createConnection, createServer, type Socket } from "node:net";

/**
 * A TCP relay on a free port of 127.0.0.1 in front of a server, so a test can
 * break a client's connections for real (the client sees its socket closed,
 * as when a server restarts or a network drops) and decide when new ones get
 * through.
 */
export interface TcpRelay {
  port: number;
  /** `http://127.0.0.1:PORT`: give this to a client instead of the server's URL. */
  url: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Resolves when the relay accepts its next connection (counted from this call). */
  nextConnection(): Promise<void>;
  /** Destroys every open connection, both its sides (the client's socket closes at once). */
  cutAll(): void;
  /**
   * New connections are accepted but wait, their bytes kept, until
   * {@link release}: a client that reconnects gets no answer meanwhile.
   */
  hold(): void;
  /** Lets the waiting connections (and every new one) through to the target. */
  release(): void;
  /** Sends new connections to another port from now on (open ones stay where they are). */
  retarget(port: number): void;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

/** Starts a {@link TcpRelay} to `targetPort` on 127.0.0.1. */
export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  let target = targetPort;
  let holding = false;
  let accepted = 0;
  const open = new Set<Socket>();
  const waiting: Array<() => void> = [];
  const arrivals: Array<() => void> = [];

  const connect = (client: Socket) => {
    // Cut (or gone) while it waited.
    if (client.destroyed) return;
    const upstream = createConnection({ host: "127.0.0.1", port: target });
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.once("close", () => {
      open.delete(upstream);
      drop();
    });
    client.once("close", drop);
    upstream.on("error", drop);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    open.add(client);
    client.on("error", () => client.destroy());
    client.once("close", () => open.delete(client));
    for (const arrived of arrivals.splice(0)) arrived();
    if (holding) waiting.push(() => connect(client));
    else connect(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    nextConnection: () => new Promise<void>((resolve) => arrivals.push(resolve)),
    cutAll() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const start of waiting.splice(0)) start();
    },
    retarget(next) {
      target = next;
    },
    async close() {
      for (const socket of open) socket.destroy();
      open.clear();
      waiting.length = 0;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
