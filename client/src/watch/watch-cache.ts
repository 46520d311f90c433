import type { CallOptions } from "@connectrpc/connect";
import { type ObjectMeta, WatchEventType } from "@dispatch/proto";
import type { WatchChange } from "./change.js";
import { type ChangeFeed, createChangeFeed } from "./change-feed.js";
import { type Backoff, backoffDelay, defaultBackoff, isPermanent, isRevisionGone } from "./retry.js";

/** One message of a kind's Watch stream (every kind's `Watch*Response` has this shape). */
export interface WatchResponse<T> {
  type: WatchEventType;
  object?: T | undefined;
  revision: bigint;
}

/** What the cache needs of a kind's service client: its Watch. Every kind's client (and `runs`) fits. */
export interface WatchableClient<Req, T> {
  watch(request: Req, options?: CallOptions): AsyncIterable<WatchResponse<T>>;
}

/** An object the cache can key by default: it has `meta` (org and name). */
export interface WithMeta {
  meta?: ObjectMeta | undefined;
}

/** Why and how the cache watches again; see {@link WatchCacheOptions.onReconnect}. */
export interface WatchReconnect {
  /** What ended the last stream: an error, or undefined when the server closed it. */
  cause: unknown;
  /**
   * True when the state is read again from the start (the server no longer
   * has the changes after the cache's revision, or no state was complete
   * yet); false when the watch resumes after {@link WatchCache.revision}.
   */
  relist: boolean;
  /** Failures in a row so far (1 after the first). */
  attempt: number;
  /** How long the cache waits before it watches again. */
  delayMs: number;
}

/** Options for {@link createWatchCache}. */
export interface WatchCacheOptions<Req, T> {
  /** The kind's service client, e.g. `clients.functions` (see `createDispatchClients`). */
  client: WatchableClient<Req, T>;
  /**
   * The Watch request without `resumeRevision` (the cache sets it): the org
   * (`{ org: "acme" }`; empty: the token's own org, or "default" for admin
   * and component tokens; `{ allOrgs: true }`: every org, for admin and
   * component tokens),
   * `name` to follow one object,
   * `function` for runs.
   */
  request?: Omit<NoInfer<Req>, "resumeRevision">;
  /** Stops the cache: the stream is closed, subscribers' iterators end, {@link WatchCache.done} resolves. */
  signal?: AbortSignal;
  /** The key of an object; default `org/name` from its meta (`name` for kinds without an org). */
  keyOf?(object: T): string;
  /** Waits between attempts after failures in a row (default 100 ms doubling to 5 s, with jitter). */
  backoff?: Partial<Backoff>;
  /** Told each time a stream ended and the cache is about to watch again (for logs). */
  onReconnect?(reconnect: WatchReconnect): void;
  /** For the jitter of waits; default Math.random. */
  random?: () => number;
}

/** A running watch cache; see {@link createWatchCache}. */
export interface WatchCache<T> {
  /**
   * Resolves once the first complete state is in the cache; rejects when the
   * cache stops before that (aborted, or an answer not worth retrying, such
   * as PermissionDenied).
   */
  readonly synced: Promise<void>;
  /** Resolves when the cache stopped because its signal aborted; rejects with the error that stopped it otherwise. */
  readonly done: Promise<void>;
  /** The object under `key`, if the cache holds it. */
  get(key: string): T | undefined;
  /** Every object the cache holds, by key. */
  list(): T[];
  /** How many objects the cache holds. */
  readonly size: number;
  /**
   * The store revision the cache is complete up to: a reconnect resumes the
   * watch after it. 0 until the first sync.
   */
  readonly revision: bigint;
  /** The key the cache files `object` under. */
  keyOf(object: T): string;
  /**
   * The changes from now on, in batches. The first batch holds what the cache
   * holds by then (every object as an `upsert`, then `synced`), once it is
   * synced; later batches hold what changed since the previous one, each key
   * once at its latest state, so a subscriber that is busy is never behind by
   * more than one batch per key. Ends when the cache stops (throws its error
   * if it failed) or `signal` aborts.
   */
  changes(options?: { signal?: AbortSignal }): AsyncIterableIterator<WatchChange<T>[]>;
  /** {@link changes} one change at a time: the event feed of a reconciler (server-kit's `createReconciler`). */
  events(options?: { signal?: AbortSignal }): AsyncIterable<WatchChange<T>>;
}

interface Entry<T> {
  object: T;
  revision: bigint;
}

/**
 * Follows the objects of one kind (in one org, or one object) through the
 * kind's Watch and keeps them in memory: a component's local copy, read
 * without a request, told of each change.
 *
 * The Watch sends the current objects, a SYNCED marker with the revision they
 * are complete up to, then every change. When the stream breaks (the server
 * restarts, the connection is cut, a proxy times it out) the cache watches
 * again with `resume_revision` set to the last revision it holds completely,
 * so the server sends only what changed meanwhile, and nothing twice: a change
 * at or below the revision the cache holds for that key is skipped. When the
 * server no longer has those changes (OutOfRange: its store was reset or
 * restored), the cache reads the whole state again and tells its subscribers
 * what changed, a `delete` for each object that vanished. Subscribers never
 * see a half-read state: a new state takes effect at its SYNCED.
 *
 * @example
 * const cache = createWatchCache({ client: clients.endpoints, request: { org: "" }, signal });
 * await cache.synced;
 * for await (const batch of cache.changes()) rebuild(cache.list());
 */
export function createWatchCache<Req, T extends WithMeta>(options: WatchCacheOptions<Req, T>): WatchCache<T>;
export function createWatchCache<Req, T>(
  options: WatchCacheOptions<Req, T> & { keyOf(object: T): string },
): WatchCache<T>;
export function createWatchCache<Req, T>(options: WatchCacheOptions<Req, T>): WatchCache<T> {
  const keyOf = options.keyOf ?? ((object: T) => keyFromMeta(object as WithMeta));
  const backoff: Backoff = { ...defaultBackoff, ...options.backoff };
  const random = options.random ?? Math.random;
  const stop = new AbortController();
  const signal = options.signal;
  const onAbort = () => stop.abort(signal?.reason);
  if (signal?.aborted) stop.abort(signal.reason);
  else signal?.addEventListener("abort", onAbort, { once: true });

  let live = new Map<string, Entry<T>>();
  /** Resume after this revision; undefined: no complete state yet, or it must be read again. */
  let resumeAfter: bigint | undefined;
  let revision = 0n;
  let syncedOnce = false;
  const feeds = new Set<ChangeFeed<T>>();

  let resolveSynced!: () => void;
  let rejectSynced!: (err: unknown) => void;
  const synced = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve;
    rejectSynced = reject;
  });
  // Nobody need await these; an abort or failure must not be an unhandled rejection.
  synced.catch(() => undefined);

  const publish = (change: WatchChange<T>) => {
    for (const feed of feeds) feed.push(change);
  };

  /** A change of one key, unless the cache holds that key at this revision or later. */
  const apply = (type: WatchEventType, key: string, object: T | undefined, at: bigint) => {
    const current = live.get(key);
    if (current && current.revision >= at) return;
    if (type === WatchEventType.DELETED) {
      if (!current) return;
      live.delete(key);
      publish({ type: "delete", key, object: current.object, revision: at });
    } else if (object !== undefined) {
      live.set(key, { object, revision: at });
      publish({ type: "upsert", key, object, revision: at });
    }
  };

  /** A state read from the start replaces the cache's: what differs is published, vanished keys as deletes. */
  const replace = (next: Map<string, Entry<T>>, at: bigint) => {
    for (const [key, entry] of next) {
      // Compared for difference, not order: after a store reset revisions start over.
      if (live.get(key)?.revision !== entry.revision) {
        publish({ type: "upsert", key, object: entry.object, revision: entry.revision });
      }
    }
    for (const [key, entry] of live) {
      if (!next.has(key)) publish({ type: "delete", key, object: entry.object, revision: at });
    }
    live = next;
  };

  const markSynced = (at: bigint) => {
    revision = at;
    publish({ type: "synced", revision: at });
    if (!syncedOnce) {
      syncedOnce = true;
      resolveSynced();
    }
  };

  /** One Watch stream, until it ends or fails. */
  const watchOnce = async (onHealthy: () => void) => {
    const from = resumeAfter;
    // The initial state of a watch without resume_revision is read point by
    // point while writes go on, so it may hold objects newer than its SYNCED
    // revision: it is collected apart and takes effect at SYNCED, and the
    // resume point moves only from SYNCED on. A resumed watch sends changes
    // in revision order, so each one moves the resume point.
    let staging: Map<string, Entry<T>> | undefined = from === undefined ? new Map() : undefined;
    const request = { ...options.request, ...(from === undefined ? {} : { resumeRevision: from }) } as Req;
    const stream = options.client.watch(request, { signal: stop.signal, timeoutMs: 0 });
    for await (const response of stream) {
      if (response.type === WatchEventType.SYNCED) {
        if (staging) {
          replace(staging, response.revision);
          staging = undefined;
          resumeAfter = response.revision;
        } else {
          resumeAfter = max(resumeAfter ?? 0n, response.revision);
        }
        markSynced(resumeAfter);
        onHealthy();
        continue;
      }
      const { object } = response;
      // A message without an object to key cannot be placed; the server never sends one.
      if (object === undefined) continue;
      const key = safeKey(keyOf, object);
      if (key === undefined) continue;
      const at = response.revision;
      if (response.type === WatchEventType.ADDED || response.type === WatchEventType.MODIFIED) {
        if (staging) staging.set(key, { object, revision: at });
        else apply(response.type, key, object, at);
      } else if (response.type === WatchEventType.DELETED) {
        if (staging) staging.delete(key);
        else apply(response.type, key, undefined, at);
      } else {
        continue;
      }
      if (!staging) {
        resumeAfter = max(resumeAfter ?? 0n, at);
        if (syncedOnce) revision = resumeAfter;
      }
    }
  };

  const run = async () => {
    let failures = 0;
    while (!stop.signal.aborted) {
      let cause: unknown;
      try {
        await watchOnce(() => {
          failures = 0;
        });
      } catch (err) {
        if (stop.signal.aborted) break;
        cause = err;
      }
      if (stop.signal.aborted) break;
      if (cause !== undefined && isPermanent(cause)) throw cause;
      let delayMs: number;
      if (cause !== undefined && isRevisionGone(cause) && resumeAfter !== undefined) {
        // Not a failure of the connection: read everything again, at once.
        resumeAfter = undefined;
        delayMs = 0;
      } else {
        failures++;
        delayMs = backoffDelay(failures, backoff, random);
      }
      options.onReconnect?.({ cause, relist: resumeAfter === undefined, attempt: failures, delayMs });
      if (delayMs > 0) await abortableDelay(delayMs, stop.signal);
    }
  };

  const done = run().then(
    () => {
      signal?.removeEventListener("abort", onAbort);
      rejectSynced(stop.signal.reason ?? new Error("the watch cache was stopped"));
      for (const feed of feeds) feed.end();
    },
    (err: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      stop.abort(err);
      rejectSynced(err);
      for (const feed of feeds) feed.end(err);
      throw err;
    },
  );
  done.catch(() => undefined);

  const changes = (subscriber?: { signal?: AbortSignal }): AsyncIterableIterator<WatchChange<T>[]> => {
    const stopOnAbort = () => feed.batches.return?.();
    const feed: ChangeFeed<T> = createChangeFeed<T>(() => {
      feeds.delete(feed);
      subscriber?.signal?.removeEventListener("abort", stopOnAbort);
    });
    feeds.add(feed);
    if (syncedOnce) {
      for (const [key, entry] of live) {
        feed.push({ type: "upsert", key, object: entry.object, revision: entry.revision });
      }
      feed.push({ type: "synced", revision });
    }
    if (stop.signal.aborted) {
      // Already stopped: what it held, then the end (or its error).
      done.then(
        () => feed.end(),
        (err: unknown) => feed.end(err),
      );
    }
    if (subscriber?.signal?.aborted) void feed.batches.return?.();
    else subscriber?.signal?.addEventListener("abort", stopOnAbort, { once: true });
    return feed.batches;
  };

  return {
    synced,
    done,
    get: (key) => live.get(key)?.object,
    list: () => [...live.values()].map((entry) => entry.object),
    get size() {
      return live.size;
    },
    get revision() {
      return revision;
    },
    keyOf,
    changes,
    events: (subscriber) => ({
      async *[Symbol.asyncIterator]() {
        for await (const batch of changes(subscriber)) yield* batch;
      },
    }),
  };
}

/** `org/name`, or `name` for kinds without an org. */
function keyFromMeta(object: WithMeta): string {
  const meta = object.meta;
  if (!meta?.name) throw new TypeError("the object has no meta.name to key it by");
  return meta.org ? `${meta.org}/${meta.name}` : meta.name;
}

function safeKey<T>(keyOf: (object: T) => string, object: T): string | undefined {
  try {
    return keyOf(object) || undefined;
  } catch {
    return undefined;
  }
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Waits `ms`, or less when `signal` aborts. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
