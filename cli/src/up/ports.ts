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

/** How {@link startOnPickedPorts} starts a component and when it may pick its ports again. */
export interface PickedPortsStart<T> {
  /** Picks the ports (for attempt 1, 2, …) and starts on them. */
  start(attempt: number): Promise<T>;
  /** How many attempts in all. */
  attempts: number;
  /** Whether `port` (the one found taken, when the error says) may be picked again: not a port the user named. */
  mayPickAgain(port: number | undefined): boolean;
  /** The line that says a port was taken and what happens now. */
  retryLine(port: number | undefined): string;
  log(line: string): void;
}

/**
 * Starts a component on ports picked free before it listens: another program
 * (another `dispatch up` starting) may take one in between. A start that
 * fails with EADDRINUSE on a port that may be picked again is tried again,
 * up to `attempts` times; any other failure, or the last, is thrown.
 */
export async function startOnPickedPorts<T>(how: PickedPortsStart<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await how.start(attempt);
    } catch (err) {
      const failed = err as NodeJS.ErrnoException & { port?: number };
      if (failed.code !== "EADDRINUSE" || attempt >= how.attempts || !how.mayPickAgain(failed.port))
        throw err;
      how.log(how.retryLine(failed.port));
    }
  }
}
