import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsUnavailableError } from "../errors.js";

/**
 * The state of a server's NATS connection, as nats.js reports it in status
 * events: what `/readyz`, `dispatch status` and the RPC gate tell.
 */
export interface NatsHealth {
  /** When the connection was lost; undefined while connected. */
  readonly disconnectedAt: Date | undefined;
  /** When the connection in use was made (at start or at the last reconnect); undefined while disconnected. */
  readonly connectedAt: Date | undefined;
  /** Reconnect attempts since the connection was lost. */
  readonly reconnectAttempts: number;
  /** The error a call that needs NATS gets now, or undefined while connected. */
  unavailable(): NatsUnavailableError | undefined;
  /** What is wrong, in words for `dispatch status`; undefined while connected. */
  problem(): string | undefined;
  /** Calls `listener` after each reconnect; returns a function that removes it. */
  onReconnect(listener: () => void): () => void;
}

/**
 * Follows a connection's status events. nats.js reconnects by itself; this
 * only keeps track, until the connection closes.
 *
 * @param who the server, as {@link NatsHealth.unavailable}'s message names it ("the control plane")
 */
export function trackNatsHealth(nc: NatsConnection, who = "the server"): NatsHealth {
  let disconnectedAt: Date | undefined;
  let connectedAt: Date | undefined = new Date();
  let reconnectAttempts = 0;
  const listeners = new Set<() => void>();
  void (async () => {
    for await (const status of nc.status()) {
      switch (status.type) {
        case "disconnect":
          disconnectedAt ??= new Date();
          connectedAt = undefined;
          reconnectAttempts = 0;
          break;
        case "reconnecting":
          reconnectAttempts++;
          break;
        case "reconnect":
          disconnectedAt = undefined;
          connectedAt = new Date();
          for (const listener of listeners) listener();
          break;
        case "close":
          disconnectedAt ??= new Date();
          connectedAt = undefined;
          break;
      }
    }
  })();
  return {
    get disconnectedAt() {
      return disconnectedAt;
    },
    get connectedAt() {
      return connectedAt;
    },
    get reconnectAttempts() {
      return reconnectAttempts;
    },
    unavailable: () => (disconnectedAt ? new NatsUnavailableError(disconnectedAt, who) : undefined),
    problem() {
      if (!disconnectedAt) return undefined;
      if (nc.isClosed()) return `disconnected since ${disconnectedAt.toISOString()} (connection closed)`;
      const attempts = `${reconnectAttempts} attempt${reconnectAttempts === 1 ? "" : "s"} so far`;
      return `disconnected since ${disconnectedAt.toISOString()}; reconnecting (${attempts})`;
    },
    onReconnect(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

const shared = new WeakMap<JetStreamClient, NatsHealth>();

/**
 * Makes `health` known to code that holds only the JetStream client (such as
 * a reader that restarts its consumers after a reconnect).
 */
export function shareHealth(js: JetStreamClient, health: NatsHealth): void {
  shared.set(js, health);
}

/** The health shared for `js` with {@link shareHealth}, if any. */
export function sharedHealth(js: JetStreamClient): NatsHealth | undefined {
  return shared.get(js);
}
