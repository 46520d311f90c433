import { randomBytes } from "node:crypto";
import {
  type ControlPlane,
  type ControlPlaneOptions,
  newTokenSecret,
  startControlPlane,
} from "@dispatch/control-plane";
import { Role } from "@dispatch/proto";
import type { NatsConnectionSettings } from "@dispatch/server-kit";
import { type NatsServer, startNats } from "./nats-server.js";

/** A control plane (and, unless given one, its own nats-server) started for a test. */
export interface TestDispatch {
  /** Base URL of the API, http://127.0.0.1:PORT. */
  url: string;
  /** An admin bearer token. */
  token: string;
  /** The key that seals secrets; pass it again to restart against the same store. */
  secretKey: Uint8Array;
  nats: NatsServer;
  controlPlane: ControlPlane;
  /** Stops the control plane (and the nats-server when it started one). */
  stop(): Promise<void>;
}

/** Options for {@link startDispatch}. */
export interface StartDispatchOptions {
  /** Use this nats-server instead of starting one. */
  nats?: NatsServer;
  /** Changes to how the control plane connects (e.g. a short `reconnectWaitMs`); the server's credentials by default. */
  natsConnection?: Partial<NatsConnectionSettings>;
  /** The secret-sealing key; a random one by default. */
  secretKey?: Uint8Array;
  /** The admin token's secret; a new one by default. */
  token?: string;
  /** More control-plane options (function defaults, run retention, bundle limit, ...). */
  controlPlane?: Partial<Omit<ControlPlaneOptions, "nats" | "secretKey" | "bootstrapTokens">>;
}

/**
 * Starts a control plane on a free port with an admin token, against a fresh
 * nats-server unless one is given, logging in with the server's credentials.
 */
export async function startDispatch(options: StartDispatchOptions = {}): Promise<TestDispatch> {
  const nats = options.nats ?? (await startNats());
  const token = options.token ?? newTokenSecret();
  const secretKey = options.secretKey ?? randomBytes(32);
  try {
    const controlPlane = await startControlPlane({
      nats: { ...nats.connection, ...options.natsConnection },
      port: 0,
      secretKey,
      bootstrapTokens: [{ name: "admin", secret: token, role: Role.ADMIN }],
      log: (message, error) =>
        error === undefined
          ? console.error(`control-plane: ${message}`)
          : console.error(`control-plane: ${message}:`, error),
      ...options.controlPlane,
    });
    return {
      url: controlPlane.url,
      token,
      secretKey,
      nats,
      controlPlane,
      async stop() {
        await controlPlane.close();
        if (!options.nats) await nats.stop();
      },
    };
  } catch (err) {
    if (!options.nats) await nats.stop();
    throw err;
  }
}
