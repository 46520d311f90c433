import { type JsonValue, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { type Client, createClient } from "@connectrpc/connect";
import {
  createDispatchClients,
  createDispatchTransport,
  createWatchCache,
  type DispatchClients,
  type WatchCache,
} from "@dispatch/client";
import {
  EventService,
  Phase,
  type Run,
  type Subscription,
  type SubscriptionSpecSchema,
} from "@dispatch/proto";
import { type IngressHarness, startIngressHarness } from "./ingress-harness.js";

/**
 * The event tests' `dispatch up` (in this process, every port free) with
 * clients of the API and of the broker's EventService under the admin token.
 */
export interface EventsHarness extends IngressHarness {
  token: string;
  clients: DispatchClients;
  events: string;
  eventService: Client<typeof EventService>;
  /**
   * The finished runs of `fn` once there are at least `count` (watched, not
   * polled; gives up after a generous bound, naming what it saw).
   */
  runs(fn: string, count: number, bound?: number): Promise<Run[]>;
  /** The finished runs of `fn` once `done` says they are complete (watched, with a generous bound). */
  runsUntil(fn: string, done: (runs: Run[]) => boolean, bound?: number): Promise<Run[]>;
  /** POSTs to the broker's ingress (`/<org>/default` by default) with the admin token. */
  post(
    body: string | Buffer,
    headers: Record<string, string>,
    path?: string,
  ): Promise<{ status: number; body: string }>;
}

/** Generous: a loaded 2-core machine runs these beside other suites. */
export const bound = 120_000;

export async function startEventsHarness(name: string): Promise<EventsHarness> {
  const harness = await startIngressHarness(name);
  const token = harness.up.dataDir.adminToken;
  const clients = createDispatchClients(
    createDispatchTransport({ server: harness.up.controlPlane.url, token }),
  );
  const eventService = createClient(EventService, createDispatchTransport({ server: harness.events, token }));
  async function runsUntil(fn: string, done: (runs: Run[]) => boolean, limit = bound): Promise<Run[]> {
    const finished = (list: Run[]) => sorted(list.filter((run) => run.status?.finished !== undefined));
    return watchUntil<Run, Run[]>(
      (signal) =>
        createWatchCache({
          client: clients.runs,
          request: { function: fn },
          signal,
          keyOf: (run) => run.meta?.name ?? "",
        }),
      (list) => {
        const runs = finished(list);
        return done(runs) ? runs : undefined;
      },
      (list, ms) =>
        `function ${fn}: ${finished(list).length} finished runs after ${ms} ms, and that is not all`,
      limit,
    );
  }

  return {
    ...harness,
    token,
    clients,
    eventService,
    runs: (fn, count, limit = bound) => runsUntil(fn, (runs) => runs.length >= count, limit),
    runsUntil,
    async post(body, headers, path = "/default/default") {
      const response = await fetch(`${harness.events}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, ...headers },
        body,
      });
      return { status: response.status, body: await response.text() };
    },
  };
}

/** Runs oldest first (by start). */
function sorted(runs: Run[]): Run[] {
  const at = (run: Run) =>
    Number(run.status?.started?.seconds ?? 0n) * 1e9 + (run.status?.started?.nanos ?? 0);
  return runs.sort((a, b) => at(a) - at(b));
}

/** A function that answers with what it was given: the event's attributes and its data. */
export const echoHandler =
  "module.exports = async (context, payload) => ({ event: context.event, payload });\n";

/** Creates a subscription through the API and waits until the broker says it is READY. */
export async function subscribe(
  h: EventsHarness,
  name: string,
  spec: MessageInitShape<typeof SubscriptionSpecSchema>,
): Promise<Subscription> {
  await h.clients.subscriptions.create({ subscription: { meta: { name }, spec } });
  return ready(h, name);
}

/** Waits (watching) until subscription `name` is READY at its latest generation. */
export function ready(h: EventsHarness, name: string): Promise<Subscription> {
  return watchUntil<Subscription, Subscription>(
    (signal) => createWatchCache({ client: h.clients.subscriptions, request: { name }, signal }),
    ([sub]) =>
      sub?.status?.phase === Phase.READY && sub.status.observedGeneration === sub.meta?.generation
        ? sub
        : undefined,
    ([sub]) => `subscription ${name} never became READY: ${JSON.stringify(sub?.status)}`,
  );
}

/**
 * Follows a watch cache until `found` finds what is awaited in its objects
 * (looked at after the first sync and after each batch of changes), or gives
 * up after `limit` ms with `why`.
 */
async function watchUntil<T, R>(
  open: (signal: AbortSignal) => WatchCache<T>,
  found: (objects: T[]) => R | undefined,
  why: (objects: T[], limitMs: number) => string,
  limit = bound,
): Promise<R> {
  const stop = new AbortController();
  const timeout = AbortSignal.timeout(limit);
  const cache = open(AbortSignal.any([timeout, stop.signal]));
  try {
    await cache.synced;
    const now = found(cache.list());
    if (now !== undefined) return now;
    for await (const _batch of cache.changes()) {
      const result = found(cache.list());
      if (result !== undefined) return result;
    }
    throw new Error(`${why(cache.list(), limit)} (the watch ended)`);
  } catch (err) {
    if (timeout.aborted) throw new Error(why(cache.list(), limit));
    throw err;
  } finally {
    stop.abort();
  }
}

/** A run's output as plain JSON. */
export function outputOf(run: Run | undefined): JsonValue {
  return run?.status?.output ? toJson(ValueSchema, run.status.output) : null;
}
