import { type JsonValue, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { type Client, createClient } from "@connectrpc/connect";
import {
  createDispatchClients,
  createDispatchTransport,
  createWatchCache,
  type DispatchClients,
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
    const signal = AbortSignal.timeout(limit);
    const stop = new AbortController();
    const cache = createWatchCache({
      client: clients.runs,
      request: { function: fn },
      signal: AbortSignal.any([signal, stop.signal]),
      keyOf: (run) => run.meta?.name ?? "",
    });
    const finished = () => cache.list().filter((run) => run.status?.finished !== undefined);
    try {
      await cache.synced;
      if (done(sorted(finished()))) return sorted(finished());
      for await (const _batch of cache.changes()) {
        if (done(sorted(finished()))) return sorted(finished());
      }
      throw new Error(`function ${fn}: the watch of its runs ended with ${finished().length} finished`);
    } catch (err) {
      if (signal.aborted) {
        throw new Error(
          `function ${fn}: ${finished().length} finished runs after ${limit} ms, and that is not all`,
        );
      }
      throw err;
    } finally {
      stop.abort();
    }
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
export async function ready(h: EventsHarness, name: string): Promise<Subscription> {
  const stop = new AbortController();
  const signal = AbortSignal.any([AbortSignal.timeout(bound), stop.signal]);
  const cache = createWatchCache({ client: h.clients.subscriptions, request: { name }, signal });
  const isReady = () => {
    const sub = cache.list()[0];
    return sub?.status?.phase === Phase.READY && sub.status.observedGeneration === sub.meta?.generation
      ? sub
      : undefined;
  };
  try {
    await cache.synced;
    const now = isReady();
    if (now) return now;
    for await (const _batch of cache.changes()) {
      const sub = isReady();
      if (sub) return sub;
    }
    throw new Error(`subscription ${name} never became READY: ${JSON.stringify(cache.list()[0]?.status)}`);
  } finally {
    stop.abort();
  }
}

/** A run's output as plain JSON. */
export function outputOf(run: Run | undefined): JsonValue {
  return run?.status?.output ? toJson(ValueSchema, run.status.output) : null;
}
