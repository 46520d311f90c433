import type { Endpoint, Function as FunctionResource } from "@dispatch/proto";
import type { Route } from "@dispatch/proto/envoy";
import type { RouteIR } from "../ir/ir.js";
import type { EndpointPlan, PlanContext } from "./endpoint-plan.js";
import type { ResolvedTranslateOptions } from "./options.js";

/** One route of an endpoint on one host (or any host). */
export interface HostRoute {
  host: string;
  route: RouteIR;
}

/** What making a plan read besides its endpoint, in order. */
interface PlanReads {
  functions: [key: string, found: FunctionResource | undefined][];
  tokens: [org: string, secret: string, found: readonly string[] | undefined][];
}

interface PlannedEndpoint {
  options: ResolvedTranslateOptions;
  reads: PlanReads;
  plan: EndpointPlan | undefined;
}

/**
 * What one translation may reuse from the last: the translator is pure, so
 * an endpoint whose object and inputs are the same objects as last time has
 * the same plan, the same routes and the same Envoy routes. Everything is
 * keyed by object identity (a watch cache keeps an unchanged object as it
 * is), in weak maps, so what a translation no longer reaches is forgotten
 * with it. A change then costs the translation of the endpoints it touches,
 * plus assembling the rest: one path changed in 10,000 routes re-plans and
 * re-expands one endpoint.
 *
 * An endpoint's plan is reused only when each function it read, and each
 * token secret, is still the very object it read: a function whose status
 * changed (a new object) re-plans the endpoints that name it, and no others.
 */
export class TranslationMemo {
  private readonly plans = new WeakMap<Endpoint, PlannedEndpoint>();
  private readonly routes = new WeakMap<EndpointPlan, HostRoute[]>();
  private readonly expanded = new WeakMap<RouteIR, Route[]>();

  /** Messages made from a value's content (by its key), for this translation and the last. */
  private messages = new Map<string, unknown>();
  private lastMessages = new Map<string, unknown>();

  /**
   * Starts a translation: messages made by content that neither this nor the
   * last translation used are forgotten.
   */
  begin(): void {
    this.lastMessages = this.messages;
    this.messages = new Map();
  }

  /**
   * A message made from content that `key` fully describes (e.g. a function's
   * cluster): the one made last time for the same key, else a new one, so an
   * unchanged cluster keeps its message (and the server its encoding).
   */
  byContent<T>(key: string, make: () => T): T {
    let made = (this.messages.get(key) ?? this.lastMessages.get(key)) as T | undefined;
    if (made === undefined) made = make();
    this.messages.set(key, made);
    return made;
  }

  /** The endpoint's plan: the last one made, if it read the same inputs; else a new one. */
  plan(
    endpoint: Endpoint,
    ctx: PlanContext,
    make: (ctx: PlanContext) => EndpointPlan | undefined,
  ): EndpointPlan | undefined {
    const known = this.plans.get(endpoint);
    if (known && known.options === ctx.options && sameReads(known.reads, ctx)) return known.plan;
    const reads: PlanReads = { functions: [], tokens: [] };
    const plan = make({
      options: ctx.options,
      functions: {
        get(key) {
          const found = ctx.functions.get(key);
          reads.functions.push([key, found]);
          return found;
        },
      },
      snapshot: {
        tokens(org, secret) {
          const found = ctx.snapshot.tokens(org, secret);
          reads.tokens.push([org, secret, found]);
          return found;
        },
      },
    });
    this.plans.set(endpoint, { options: ctx.options, reads, plan });
    return plan;
  }

  /** A plan's routes: made once per plan. */
  routesOf(plan: EndpointPlan, make: (plan: EndpointPlan) => HostRoute[]): HostRoute[] {
    return remembered(this.routes, plan, make);
  }

  /** The Envoy routes of an IR route: made once per IR route. */
  expand(route: RouteIR, make: (route: RouteIR) => Route[]): Route[] {
    return remembered(this.expanded, route, make);
  }
}

/** What `make` gave for `key` the first time it was asked. */
function remembered<K extends object, V>(memo: WeakMap<K, V>, key: K, make: (key: K) => V): V {
  let value = memo.get(key);
  if (value === undefined) {
    value = make(key);
    memo.set(key, value);
  }
  return value;
}

function sameReads(reads: PlanReads, ctx: PlanContext): boolean {
  for (const [key, found] of reads.functions) if (ctx.functions.get(key) !== found) return false;
  for (const [org, secret, found] of reads.tokens)
    if (ctx.snapshot.tokens(org, secret) !== found) return false;
  return true;
}
