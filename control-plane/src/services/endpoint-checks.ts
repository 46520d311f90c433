/**
 * What the control plane checks of an endpoint against the others it stores:
 * its org's quota and route conflicts at create and update, and which secret
 * a token-auth endpoint names (the one a component may read the values of).
 *
 * The checks read an index of every endpoint's routes, fed by a watch of the
 * store, so a create costs a lookup of its own routes instead of a read of
 * every endpoint (which made creating the n-th endpoint O(n), and 10,000 of
 * them quadratic). Before it answers, the index catches up with the store's
 * newest revision, so a create sees every write that was answered before it
 * began, whichever control-plane replica made it.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describeClaim, type Endpoint, RouteClaimIndex } from "@dispatch/proto";
import { backoffDelay, defaultBackoff } from "@dispatch/server-kit";
import type { ErrorLogger } from "../errors.js";
import type { ResourceStore } from "../store/resource-store.js";
import type { Violations } from "../validation/violations.js";

/** Most endpoints one org may have, unless the installation says otherwise. */
export const defaultMaxEndpointsPerOrg = 10_000;

/** How long a check waits for the index to catch up before it reads the store instead. */
const catchUpLimitMs = 2000;

/** The state the checks read: every endpoint's routes, and the token secrets endpoints name. */
class EndpointState {
  readonly routes = new RouteClaimIndex<Endpoint>();
  /** `org/secret` → how many endpoints name it as their token secret. */
  private readonly tokenSecrets = new Map<string, number>();
  /** `org.name` → the token secret the endpoint names, if any. */
  private readonly secretOf = new Map<string, string>();

  set(key: string, endpoint: Endpoint): void {
    this.delete(key);
    this.routes.set(endpoint);
    const mode = endpoint.spec?.auth?.mode;
    if (mode?.case !== "token") return;
    const secret = `${endpoint.meta?.org ?? ""}/${mode.value.secret}`;
    this.secretOf.set(key, secret);
    this.tokenSecrets.set(secret, (this.tokenSecrets.get(secret) ?? 0) + 1);
  }

  delete(key: string): void {
    const dot = key.indexOf(".");
    this.routes.delete(key.slice(0, dot), key.slice(dot + 1));
    const secret = this.secretOf.get(key);
    if (secret === undefined) return;
    this.secretOf.delete(key);
    const left = (this.tokenSecrets.get(secret) ?? 1) - 1;
    if (left > 0) this.tokenSecrets.set(secret, left);
    else this.tokenSecrets.delete(secret);
  }

  namesTokenSecret(org: string, secret: string): boolean {
    return this.tokenSecrets.has(`${org}/${secret}`);
  }
}

/**
 * The endpoint checks, over an index that a watch of the endpoint store
 * keeps. Start it before serving; close it on shutdown.
 */
export class EndpointChecks {
  private state = new EndpointState();
  /** The highest store revision the index reflects. */
  private seen = 0;
  private readonly waiters = new Set<() => void>();
  private readonly abort = new AbortController();
  private watching: Promise<void> | undefined;

  constructor(
    private readonly store: ResourceStore<Endpoint>,
    private readonly log: ErrorLogger,
    private readonly maxPerOrg = defaultMaxEndpointsPerOrg,
  ) {}

  /** Reads every endpoint, then follows changes until {@link close}. */
  async start(): Promise<void> {
    let synced!: () => void;
    let failed!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      synced = resolve;
      failed = reject;
    });
    this.watching = this.follow(synced, failed);
    await ready;
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.wake();
    await this.watching;
  }

  /**
   * Refuses an endpoint past its org's quota, or one that would serve a
   * (host, method, path) another endpoint already serves, naming that one.
   * Two creates at the same moment can both pass: the translator then serves
   * the older one and reports the other as conflicting, so the wire never
   * carries two routes for one request.
   */
  async check(endpoint: Endpoint, at: { org: string; name: string }, v: Violations): Promise<void> {
    const state = await this.current();
    const candidate = { meta: { org: at.org, name: at.name }, spec: endpoint.spec };
    // Every endpoint is a route on every proxy: an org may not grow the configuration without bound.
    const others = state.routes.count(at.org) - (state.routes.has(at.org, at.name) ? 1 : 0);
    if (others >= this.maxPerOrg) {
      v.add(
        "meta.name",
        `org "${at.org}" has ${others} endpoints, the most it may have (the installation's limit); delete one first, or ask an operator to raise the limit`,
      );
      return;
    }
    const conflict = state.routes.conflict(candidate);
    if (!conflict) return;
    const other = conflict.other.meta;
    // Another org's names are not this caller's to learn.
    const whose = other?.org === at.org ? `endpoint "${other?.name}"` : "an endpoint of another org";
    v.add(
      "spec.paths",
      `${describeClaim(conflict.claim)} is already served by ${whose}; choose another path, host or method, or change that endpoint`,
    );
  }

  /**
   * Whether an endpoint of the org names this secret as its token secret: the
   * one secret a component (the xds-server) may read the values of, to put the
   * endpoint's accepted tokens on its routes.
   */
  async isTokenSecret(at: { org: string; name: string }): Promise<boolean> {
    return (await this.current()).namesTokenSecret(at.org, at.name);
  }

  /**
   * The index once it reflects every write the store had when asked; when the
   * watch cannot catch up in time (NATS trouble), an index read from the store.
   */
  private async current(): Promise<EndpointState> {
    const last = await this.store.lastRevision();
    if (this.seen >= last) return this.state;
    const caughtUp = await new Promise<boolean>((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(result);
      };
      const check = () => {
        if (this.seen >= last) done(true);
        else if (this.abort.signal.aborted) done(false);
      };
      const timer = setTimeout(() => done(false), catchUpLimitMs);
      timer.unref();
      this.waiters.add(check);
    });
    if (caughtUp) return this.state;
    const state = new EndpointState();
    for (const { key, object } of (await this.store.list("*.*")).items) state.set(key, object);
    return state;
  }

  /**
   * Each pass lists every endpoint into a new index, which replaces the old
   * one, then follows every change after the list's revision, in the store's
   * order: a resumed watch delivers each write after that revision (deletions
   * too), so `seen` is exact. (A fresh watch's first state is read key by key
   * while writes go on, and may hold a key newer than another key's change
   * still to come: its revisions cannot say how far the index has got.) A
   * watch that fails or ends is started again, with backoff while it keeps
   * failing.
   */
  private async follow(synced: () => void, failed: (err: unknown) => void): Promise<void> {
    const { signal } = this.abort;
    let started = false;
    for (let failures = 0; !signal.aborted; ) {
      try {
        const listed = await this.store.list("*.*");
        const state = new EndpointState();
        for (const { key, object } of listed.items) state.set(key, object);
        this.state = state;
        this.seen = listed.revision;
        started = true;
        synced();
        this.wake();
        // Revision 0 is an empty bucket: a fresh watch starts at its beginning.
        const from = listed.revision > 0 ? { resumeAfter: listed.revision } : {};
        for await (const event of this.store.watch("*.*", { signal, ...from })) {
          failures = 0;
          if (event.type === "deleted") state.delete(event.key);
          else if (event.type !== "synced") state.set(event.key, event.object);
          this.seen = Math.max(this.seen, event.revision);
          this.wake();
        }
        if (signal.aborted) break;
        this.log("the endpoint index's watch ended; watching again", undefined);
      } catch (err) {
        if (signal.aborted) break;
        // The first read fails the start; later failures are retried.
        if (!started) return failed(err);
        this.log("the endpoint index's watch failed; watching again", err);
      }
      failures++;
      await sleep(backoffDelay(failures, defaultBackoff, Math.random), undefined, { signal }).catch(
        () => undefined,
      );
    }
    if (!started) failed(new Error("the endpoint index was closed before it had read the endpoints"));
  }

  private wake(): void {
    for (const wake of this.waiters) wake();
  }
}
