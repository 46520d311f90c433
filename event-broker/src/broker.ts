import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createWatchCache, type DispatchClients } from "@dispatch/client";
import { EventService } from "@dispatch/proto";
import {
  createErrorInterceptor,
  createHealthAnswers,
  type DualServer,
  isNatsOutage,
  listenDual,
  type NatsHealth,
} from "@dispatch/server-kit";
import { JetStreamError } from "@nats-io/jetstream";
import { type NatsConnection, errors as natsErrors } from "@nats-io/nats-core";
import { createCallers } from "./api/callers.js";
import { createEventService } from "./api/event-service.js";
import { createIngestTokens } from "./api/ingest-tokens.js";
import { createDeliver } from "./delivery/deliver.js";
import { withReplies } from "./delivery/replies.js";
import {
  type SubscriptionController,
  startSubscriptionController,
} from "./delivery/subscription-controller.js";
import { createHttpIngress, maxBatchBytes } from "./ingress/http-ingress.js";
import { createEventStore, type EventStore, type Retention } from "./store/event-store.js";

/** Options of {@link startEventBroker}. */
export interface EventBrokerOptions {
  /** A connection to NATS with JetStream (the broker's own). */
  nats: NatsConnection;
  natsHealth?: NatsHealth;
  /** The API with the component token: subscriptions, their status, event runs, orgs. */
  clients: Pick<DispatchClients, "subscriptions" | "runs" | "organizations" | "secrets">;
  /** The API without a token (WhoAmI is asked with each caller's token). */
  anonymous: Pick<DispatchClients, "tokens">;
  host: string;
  /** 0: a free port. */
  port: number;
  retention?: Partial<Retention>;
  /** The largest event data; default 256 KiB. */
  maxEventBytes?: number;
  /** How often subscriptions' figures are refreshed; default 5 s. */
  statsIntervalMs?: number;
  log(message: string, error?: unknown): void;
}

/** A running broker: its ingress and API on one port, and its dispatcher. */
export interface EventBroker {
  /** Where events are sent (`POST <url>/<org>/default`) and the EventService answers. */
  readonly url: string;
  readonly port: number;
  readonly store: EventStore;
  readonly subscriptions: SubscriptionController;
  close(graceMs?: number): Promise<void>;
}

export const defaultMaxEventBytes = 256 * 1024;

/**
 * Starts the event broker: CloudEvents over HTTP and the Connect
 * `EventService` on one port (HTTP/1.1 and h2c), events stored in JetStream
 * before any is acknowledged, and the dispatcher, which keeps one durable
 * consumer per subscription and delivers through the invoker.
 */
export async function startEventBroker(options: EventBrokerOptions): Promise<EventBroker> {
  const maxEventBytes = options.maxEventBytes ?? defaultMaxEventBytes;
  const store = createEventStore({
    nats: options.nats,
    maxEventBytes,
    ...(options.retention ? { retention: options.retention } : {}),
  });
  await store.ensureBroker("default", "default");
  const deliver = withReplies(
    createDeliver(options.clients.runs),
    async (org, broker, event) => {
      await store.publish(org, broker, [event]);
    },
    (message) => options.log(message),
  );
  // Orgs, followed: an event for an org that does not exist (or no longer does) is refused at once,
  // and a deleted org's streams go with it.
  const stop = new AbortController();
  const orgs = createWatchCache({ client: options.clients.organizations, signal: stop.signal });
  const dropping = (async () => {
    try {
      for await (const batch of orgs.changes({ signal: stop.signal })) {
        for (const change of batch) {
          if (change.type !== "delete") continue;
          const dropped = await store.dropOrg(change.key).catch((err: unknown) => {
            options.log(`the event streams of the deleted org "${change.key}" could not be removed`, err);
            return [];
          });
          if (dropped.length > 0)
            options.log(`org "${change.key}" was deleted: removed ${dropped.join(", ")}`);
        }
      }
    } catch (err) {
      if (!stop.signal.aborted) options.log("the watch of organizations stopped", err);
    }
  })();
  let orgsKnown = false;
  orgs.synced.then(
    () => {
      orgsKnown = true;
    },
    () => {},
  );
  const orgExists = async (org: string): Promise<boolean> => {
    // Bounded, and only until the list is first known (not a timer per request after that):
    // with the API away since start, callers hear so instead of waiting.
    if (!orgsKnown) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the list of orgs is not known yet")), 10_000);
      });
      try {
        await Promise.race([orgs.synced, bound]);
      } finally {
        clearTimeout(timer);
      }
    }
    return orgs.get(org) !== undefined;
  };
  const callers = createCallers({ tokens: options.anonymous.tokens, orgExists });
  const ingress = createHttpIngress({
    store,
    callers,
    ingestTokens: createIngestTokens({ secrets: options.clients.secrets, orgExists }),
    maxEventBytes,
  });
  const health = createHealthAnswers(
    options.natsHealth ? [{ name: "nats", problem: () => options.natsHealth?.problem() }] : [],
  );
  const adapter = connectNodeAdapter({
    routes: (router) =>
      router.service(
        EventService,
        createEventService({
          store,
          callers,
          subscriptions: options.clients.subscriptions,
          deliver,
          onRedelivered: (org, subscription) => subscriptions.delivered(org, subscription),
          maxEventBytes,
        }),
      ),
    // As much as an HTTP batch may carry: a request is read whole before its token is checked.
    readMaxBytes: maxBatchBytes + 1024 * 1024,
    // A JetStream that does not answer is Unavailable (try again), as the HTTP ingress's 503.
    interceptors: [
      createErrorInterceptor({
        codes: [],
        translate: (err) =>
          isEventStoreOutage(err)
            ? new ConnectError(
                `the event store (NATS JetStream) did not answer: ${(err as Error).message}; try again`,
                Code.Unavailable,
                undefined,
                undefined,
                err,
              )
            : undefined,
        log: (message, error) => options.log(`EventService: ${message}`, error),
        internalMessage: "internal error (the event broker's log has the details)",
      }),
    ],
    fallback(req, res) {
      if (health(req, res)) return;
      if (ingress(req, res)) return;
      res.writeHead(404, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: {
            code: "not_found",
            message: "this is the Dispatch event broker: POST CloudEvents to /<org>/default",
          },
        }),
      );
    },
  });
  const subscriptions = startSubscriptionController({
    clients: options.clients,
    store,
    deliver,
    ...(options.statsIntervalMs ? { statsIntervalMs: options.statsIntervalMs } : {}),
    log: options.log,
  });
  let server: DualServer;
  try {
    server = await listenDual(adapter, options.host, options.port);
  } catch (err) {
    await subscriptions.close();
    stop.abort();
    throw err;
  }
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${server.port}`,
    port: server.port,
    store,
    subscriptions,
    async close(graceMs = 5000) {
      await server.close(graceMs);
      await subscriptions.close();
      stop.abort();
      await Promise.allSettled([dropping, orgs.done]);
    },
  };
}

/**
 * NATS or JetStream did not answer (or the connection is down): a retry may
 * succeed. Beyond the shared outage test, any failed request and any
 * JetStream client error (not an API answer) count here.
 */
function isEventStoreOutage(err: unknown): boolean {
  return isNatsOutage(err) || err instanceof natsErrors.RequestError || err instanceof JetStreamError;
}
