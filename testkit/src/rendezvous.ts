import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A meeting point between a test and the handlers it deploys, so tests wait on
 * what a handler did instead of guessing how long it takes on a loaded machine.
 * Handlers reach it over loopback HTTP (workers share the machine's network):
 *
 * - `GET <url>/arrive/<name>` says "I got here" and is answered at once;
 * - `GET <url>/wait/<name>` says the same, then is held until the test calls
 *   {@link Rendezvous.release}; a handler that awaits it blocks until then.
 *
 * The answer's body is the arrival's number (1, 2, ...), for handlers that want it.
 *
 * @example
 * const rv = await startRendezvous();
 * // handler: export default async () => { await fetch(`${url}/wait/started`); return "done"; };
 * const call = exec(api, "slow", {});
 * await rv.arrived("started");   // the call is inside the handler now
 * rv.release("started");
 * await call;
 */
export interface Rendezvous {
  /** Base URL, http://127.0.0.1:PORT, for handler code. */
  url: string;
  /** Resolves once `name` has had `count` arrivals (default 1). */
  arrived(name: string, count?: number): Promise<void>;
  /** How many arrivals `name` has had so far. */
  count(name: string): number;
  /** Answers every held and future `/wait/<name>` request. */
  release(name: string): void;
  close(): Promise<void>;
}

/** Starts a {@link Rendezvous} on a free loopback port. */
export async function startRendezvous(): Promise<Rendezvous> {
  const counts = new Map<string, number>();
  const waiters = new Map<string, { count: number; resolve: () => void }[]>();
  const held = new Map<string, { res: ServerResponse; number: number }[]>();
  const released = new Set<string>();

  const arrive = (name: string): number => {
    const count = (counts.get(name) ?? 0) + 1;
    counts.set(name, count);
    const pending = waiters.get(name) ?? [];
    waiters.set(
      name,
      pending.filter((w) => {
        if (w.count > count) return true;
        w.resolve();
        return false;
      }),
    );
    return count;
  };

  const server = createServer((req, res) => {
    const match = /^\/(arrive|wait)\/([^/?]+)/.exec(req.url ?? "");
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    const [, verb, rawName = ""] = match;
    const name = decodeURIComponent(rawName);
    const number = arrive(name);
    res.setHeader("content-type", "text/plain");
    if (verb === "arrive" || released.has(name)) {
      res.end(String(number));
      return;
    }
    const list = held.get(name) ?? [];
    list.push({ res, number });
    held.set(name, list);
    res.once("close", () =>
      held.set(
        name,
        (held.get(name) ?? []).filter((h) => h.res !== res),
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    arrived(name, count = 1) {
      if ((counts.get(name) ?? 0) >= count) return Promise.resolve();
      return new Promise((resolve) => {
        const list = waiters.get(name) ?? [];
        list.push({ count, resolve });
        waiters.set(name, list);
      });
    },
    count: (name) => counts.get(name) ?? 0,
    release(name) {
      released.add(name);
      for (const { res, number } of held.get(name) ?? []) res.end(String(number));
      held.delete(name);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const list of held.values()) for (const { res } of list) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
