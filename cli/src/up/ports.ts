import { createServer } from "node:net";

/** Whether nothing listens on the port of `host` (default loopback). */
export function isFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A port nothing listens on now (the system picks it). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** What {@link choosePort} chooses from. */
export interface PortChoice {
  /** What the component is, for the log line ("activator"). */
  name: string;
  /** The flag that sets it ("--activator-port"). */
  flag: string;
  /** The port the user asked for (a flag): taken as is. */
  asked: number | undefined;
  /** The port used last time. */
  remembered: number | undefined;
  /** The port to use when none was used before, if free; default a free one. */
  preferred?: number;
  host?: string;
  /** Whether a port must be known before listening (0 is then resolved to a free port now). */
  concrete?: boolean;
  log(line: string): void;
}

/**
 * A component's port: the flag's, else the one used last time (when it is
 * still free), else the preferred one (when free), else a free one. Users
 * keep the same URLs from one start to the next.
 */
export async function choosePort(choice: PortChoice): Promise<number> {
  const host = choice.host ?? "127.0.0.1";
  const concrete = async (port: number) => (port === 0 && choice.concrete ? freePort(host) : port);
  if (choice.asked !== undefined) return concrete(choice.asked);
  if (choice.remembered !== undefined) {
    if (await isFree(choice.remembered, host)) return choice.remembered;
    choice.log(
      `${choice.name}: port ${choice.remembered}, used last time, is taken by another program: picking ${choice.preferred === undefined ? "a free one" : "another"} (${choice.flag} sets one)`,
    );
  }
  if (choice.preferred !== undefined && choice.preferred !== choice.remembered) {
    if (await isFree(choice.preferred, host)) return choice.preferred;
    choice.log(
      `${choice.name}: port ${choice.preferred} is taken: picking a free one (${choice.flag} sets one)`,
    );
  }
  return concrete(0);
}
