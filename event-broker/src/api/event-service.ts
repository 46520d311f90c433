import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { DispatchClients } from "@dispatch/client";
import {
  type DeadLetter,
  EmitResponseSchema,
  type EventService,
  ListDeadLettersResponseSchema,
  ListEventsResponseSchema,
  RedeliverResponseSchema,
  WatchEventsResponseSchema,
} from "@dispatch/proto";
import { bearerToken } from "@dispatch/server-kit";
import type { Deliver } from "../delivery/deliver.js";
import { brokerFor, checkedEvents } from "../ingress/accept.js";
import type { EventStore } from "../store/event-store.js";
import { typeSubjectProblem } from "../store/layout.js";
import type { Caller, Callers } from "./callers.js";

/** Options of {@link createEventService}. */
export interface EventServiceOptions {
  store: EventStore;
  callers: Callers;
  /** The API with the component token (a subscription's function, for Redeliver). */
  subscriptions: Pick<DispatchClients["subscriptions"], "get">;
  deliver: Deliver;
  /** Told of each event a Redeliver delivered (for the subscription's figures). */
  onRedelivered?(org: string, subscription: string): void;
  maxEventBytes: number;
}

/** The most dead letters one Redeliver sends (the oldest first); run it again for more. */
export const maxRedeliveries = 1000;

/** A type asked for must be one an event could have (it becomes a subject). */
function checkType(type: string): void {
  const problem = type === "" ? undefined : typeSubjectProblem(type);
  if (problem) throw new ConnectError(`the type ${problem}`, Code.InvalidArgument);
}

/** A subscription named in a request is a subscription name (it becomes a subject). */
function checkSubscriptionName(name: string): void {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
    throw new ConnectError(
      `"${name.slice(0, 80)}" is not a subscription name (lowercase letters, digits and '-', at most 63)`,
      Code.InvalidArgument,
    );
  }
}

const caller = async (callers: Callers, ctx: HandlerContext): Promise<Caller> =>
  callers.authenticate(bearerToken(ctx.requestHeader.get("authorization")));

/** The broker's Connect API (`dispatch.v1.EventService`). */
export function createEventService(options: EventServiceOptions): ServiceImpl<typeof EventService> {
  const { store, callers } = options;
  const where = async (ctx: HandlerContext, org: string, broker: string) => {
    const resolved = await callers.orgFor(await caller(callers, ctx), org);
    return { org: resolved, broker: brokerFor(resolved, broker) };
  };
  const limit = (asked: number, fallback: number) => Math.min(asked || fallback, 1000);
  return {
    async emit(request, ctx) {
      const at = await where(ctx, request.org, request.broker);
      const events = checkedEvents(request.events, options.maxEventBytes);
      if (events.length === 0) throw new ConnectError("the request has no events", Code.InvalidArgument);
      const results = await store.publish(at.org, at.broker, events);
      return create(EmitResponseSchema, { results });
    },
    async listEvents(request, ctx) {
      checkType(request.type);
      const at = await where(ctx, request.org, request.broker);
      const events = await store.list(at.org, at.broker, {
        ...(request.type ? { type: request.type } : {}),
        limit: limit(request.limit, 20),
      });
      return create(ListEventsResponseSchema, { events });
    },
    async *watchEvents(request, ctx) {
      checkType(request.type);
      const at = await where(ctx, request.org, request.broker);
      for await (const event of store.follow(
        at.org,
        at.broker,
        { ...(request.type ? { type: request.type } : {}), last: Math.min(request.last, 1000) },
        ctx.signal,
      )) {
        yield create(WatchEventsResponseSchema, { event });
      }
    },
    async listDeadLetters(request, ctx) {
      checkSubscriptionName(request.subscription);
      const at = await where(ctx, request.org, "");
      const items = await store.deadLetters(at.org, request.subscription, limit(request.limit, 100));
      return create(ListDeadLettersResponseSchema, { items });
    },
    async redeliver(request, ctx) {
      checkSubscriptionName(request.subscription);
      const at = await where(ctx, request.org, "");
      if (!request.all && request.ids.length === 0) {
        throw new ConnectError(
          "name the events to send again (their ids), or ask for all of them",
          Code.InvalidArgument,
        );
      }
      const { subscription } = await options.subscriptions.get({ org: at.org, name: request.subscription });
      const fn = subscription?.spec?.function ?? "";
      const wanted = new Set(request.ids);
      const letters = (await store.deadLetters(at.org, request.subscription, maxRedeliveries)).filter(
        (l) => request.all || wanted.has(l.event?.event?.id ?? ""),
      );
      if (!request.all) {
        const found = new Set(letters.map((l) => l.event?.event?.id));
        const missing = request.ids.filter((id) => !found.has(id));
        if (missing.length > 0) {
          throw new ConnectError(
            `no dead letter of subscription "${request.subscription}" has the id ${missing.map((m) => `"${m}"`).join(", ")} (dispatch get deadletters ${request.subscription} lists them)`,
            Code.NotFound,
          );
        }
      }
      let delivered = 0;
      const failed: DeadLetter[] = [];
      for (const letter of letters) {
        const event = letter.event?.event;
        // The caller left: the rest stay as they are (not counted as attempts).
        if (ctx.signal.aborted) break;
        if (!event) continue;
        const outcome = await options.deliver({
          org: at.org,
          subscription: request.subscription,
          function: fn,
          event,
          timeoutMs: undefined,
          signal: ctx.signal,
        });
        if (outcome.ok) {
          delivered += 1;
          options.onRedelivered?.(at.org, request.subscription);
        } else if (ctx.signal.aborted) {
          break;
        } else {
          const again = {
            subscription: request.subscription,
            attempts: letter.attempts + 1,
            error: outcome.error,
            eventSequence: Number(letter.eventSequence),
          };
          await store.deadLetter(at.org, event, again);
          failed.push({ ...letter, attempts: again.attempts, lastError: again.error });
        }
        await store.removeDeadLetter(at.org, letter.event?.sequence ?? 0n);
      }
      return create(RedeliverResponseSchema, { delivered, failed });
    },
  };
}
