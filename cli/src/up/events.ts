import { createDispatchClients, createDispatchTransport } from "@dispatch/client";
import { type EventBroker, type Retention, startEventBroker } from "@dispatch/event-broker";
import { connectNats, type NatsConnectionSettings, trackNatsHealth } from "@dispatch/server-kit";
import { clientVersion } from "../version.js";

/** Options of {@link startUpEvents}. */
export interface UpEventsOptions {
  apiUrl: string;
  /** Reads subscriptions, writes their status, delivers events (RunService.Create with an event). */
  componentToken: string;
  nats: NatsConnectionSettings;
  host: string;
  port: number;
  retention: Retention;
  log(line: string): void;
}

/** The event broker of `dispatch up`, with its own NATS connection. */
export interface UpEvents {
  broker: EventBroker;
  /** The broker's health line for `dispatch status`: why it cannot take events, if so. */
  problem(): string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the event broker: its ingress and EventService on `host:port`, its
 * dispatcher following the API's subscriptions with the component token.
 */
export async function startUpEvents(options: UpEventsOptions): Promise<UpEvents> {
  const userAgent = `dispatch-event-broker/${clientVersion()}`;
  const clients = createDispatchClients(
    // Deliveries are many and over loopback: no gzip of every run.
    createDispatchTransport({
      server: options.apiUrl,
      token: options.componentToken,
      userAgent,
      compression: false,
    }),
  );
  // WhoAmI is asked with each caller's own token.
  const anonymous = createDispatchClients(
    createDispatchTransport({ server: options.apiUrl, token: "", userAgent }),
  );
  const nats = await connectNats(options.nats, "dispatch-event-broker");
  const natsHealth = trackNatsHealth(nats);
  try {
    const broker = await startEventBroker({
      nats,
      natsHealth,
      clients,
      anonymous,
      host: options.host,
      port: options.port,
      retention: options.retention,
      log: (message, error) =>
        options.log(
          `event-broker: ${message}${error === undefined ? "" : `: ${error instanceof Error ? error.message : String(error)}`}`,
        ),
    });
    return {
      broker,
      problem: () => natsHealth.problem(),
      async stop() {
        await broker.close();
        await nats.drain().catch(() => nats.close());
      },
    };
  } catch (err) {
    await nats.close();
    throw err;
  }
}
