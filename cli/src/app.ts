import { readFile } from "node:fs/promises";
import type { Transport } from "@connectrpc/connect";
import { createDispatchClients, createDispatchTransport, type DispatchClients } from "@dispatch/client";
import type { Command } from "commander";
import { configPath, type GlobalFlags, loadConfig, resolveSettings, type Settings } from "./config.js";
import { UsageError } from "./errors.js";
import type { Kind } from "./kinds/index.js";
import { clientVersion } from "./version.js";

/** The process edges a command touches, injectable for tests. */
export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** stderr is a terminal (spinners are drawn there). */
  stderrIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  readStdin(): Promise<string>;
  /**
   * A signal that aborts on Ctrl-C (SIGINT) or SIGTERM, for commands that follow a
   * stream until the user stops them. Until a command asks for it, Ctrl-C ends the
   * process the usual way.
   */
  interrupted(): AbortSignal;
}

/** The real process's stdout, stderr, environment and stdin. */
export function processIo(): Io {
  let interrupt: AbortSignal | undefined;
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTTY: process.stderr.isTTY === true,
    env: process.env,
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    interrupted() {
      if (!interrupt) {
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        interrupt = controller.signal;
      }
      return interrupt;
    },
  };
}

/** What one command run works with once flags, env and config are merged. */
export interface Session {
  settings: Settings;
  clients: DispatchClients;
  io: Io;
  /** The org that requests for `kind` carry: empty for global kinds. */
  orgFor(kind: Kind): string;
  /**
   * A transport to another Dispatch server with this session's token, user agent and
   * request timeout: the event broker, which serves its API at its own URL.
   */
  transportTo(server: string): Transport;
}

/** Shared state of one CLI invocation. */
export interface App {
  io: Io;
  /** Settings of the last session opened, so failures can name the server. */
  settings: Settings | undefined;
  /** Reads the global flags of `command`, the env and the config file. */
  settingsFor(command: Command): Promise<Settings>;
  /** {@link settingsFor} plus Connect clients for the server. */
  session(command: Command): Promise<Session>;
  /** Reads a file argument; `-` is stdin. */
  readInput(path: string): Promise<string>;
}

/** Options for {@link createApp}. */
export interface AppOptions {
  io: Io;
  /** Replaces the HTTP transport (tests); `server` is the URL the transport is for. */
  transport?: (settings: Settings, server: string) => Transport;
}

/** Creates the state shared by the commands of one invocation. */
export function createApp(options: AppOptions): App {
  const { io } = options;
  const app: App = {
    io,
    settings: undefined,
    async settingsFor(command) {
      const flags = command.optsWithGlobals<GlobalFlags>();
      const path = configPath(flags.config, io.env);
      const settings = resolveSettings(flags, io.env, await loadConfig(path), path);
      app.settings = settings;
      return settings;
    },
    async session(command) {
      const settings = await app.settingsFor(command);
      const transportTo = (server: string) =>
        options.transport?.(settings, server) ??
        createDispatchTransport({
          server,
          token: settings.token,
          requestTimeoutMs: settings.requestTimeoutMs,
          userAgent: `dispatch-cli/${clientVersion()}`,
          // A connection per call: the CLI's calls are few, and HTTP/1.1 passes any proxy.
          httpVersion: "1.1",
        });
      return {
        settings,
        clients: createDispatchClients(transportTo(settings.server)),
        io,
        orgFor: (kind) => (kind.global ? "" : settings.org),
        transportTo,
      };
    },
    async readInput(path) {
      if (path === "-") return io.readStdin();
      try {
        return await readFile(path, "utf8");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") throw new UsageError(`file ${path} does not exist`);
        if (code === "EISDIR") throw new UsageError(`${path} is a directory, not a file`);
        throw err;
      }
    },
  };
  return app;
}
