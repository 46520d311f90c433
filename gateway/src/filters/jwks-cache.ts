import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { ConfigError } from "../route-table/config-error.js";
import { parseJwks } from "./jwt-config.js";

/** Fetches a JWKS document: the body, or a rejection saying why not. */
export type JwksFetcher = (source: { uri: string; cluster: string; timeoutMs: number }) => Promise<string>;

/** Why a provider has no keys to verify with. */
export class JwksUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "JwksUnavailableError";
  }
}

interface Entry {
  keys: JWTVerifyGetKey | undefined;
  fetchedAt: number;
  pending: Promise<JWTVerifyGetKey> | undefined;
  failure: Error | undefined;
  failedAt: number;
}

/**
 * Remote JWKS, fetched through their cluster and cached for the provider's
 * `cache_duration`. One fetch is in flight per document at a time, whoever
 * asks; a failed fetch is not retried for `retryAfterMs` (requests meanwhile
 * fail with its reason) so a dead JWKS server is not hammered; keys that
 * expired keep serving while their refresh is in flight. A token whose `kid`
 * the cached set lacks triggers one early refresh (at most every
 * `retryAfterMs`), so a rotated key is picked up without waiting out the cache.
 */
export class JwksCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly fetcher: JwksFetcher,
    private readonly now: () => number,
    private readonly retryAfterMs = 1_000,
  ) {}

  /** The key resolver for a remote source. */
  async keys(source: {
    uri: string;
    cluster: string;
    timeoutMs: number;
    cacheMs: number;
  }): Promise<JWTVerifyGetKey> {
    const id = `${source.cluster}\u0000${source.uri}`;
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { keys: undefined, fetchedAt: 0, pending: undefined, failure: undefined, failedAt: 0 };
      this.entries.set(id, entry);
    }
    const now = this.now();
    if (entry.keys && now - entry.fetchedAt < source.cacheMs) return entry.keys;
    if (entry.pending) return entry.keys ?? entry.pending;
    if (entry.failure && now - entry.failedAt < this.retryAfterMs) {
      if (entry.keys) return entry.keys;
      throw entry.failure;
    }
    const pending = this.fetch(entry, source);
    if (entry.keys) {
      // Serve the expired keys while the refresh runs.
      pending.catch(() => {});
      return entry.keys;
    }
    return pending;
  }

  /**
   * Refreshes a source whose keys lack a token's `kid` (at most once per
   * `retryAfterMs`), returning the refreshed resolver or undefined when it is
   * too soon.
   */
  async refresh(source: {
    uri: string;
    cluster: string;
    timeoutMs: number;
  }): Promise<JWTVerifyGetKey | undefined> {
    const entry = this.entries.get(`${source.cluster}\u0000${source.uri}`);
    if (!entry) return undefined;
    if (entry.pending) return entry.pending;
    if (this.now() - entry.fetchedAt < this.retryAfterMs) return undefined;
    return this.fetch(entry, source);
  }

  /** Starts fetching sources marked `async_fetch` when a config arrives. */
  prefetch(source: { uri: string; cluster: string; timeoutMs: number; cacheMs: number }): void {
    this.keys(source).catch(() => {});
  }

  private fetch(
    entry: Entry,
    source: { uri: string; cluster: string; timeoutMs: number },
  ): Promise<JWTVerifyGetKey> {
    const pending = (async () => {
      let text: string;
      try {
        text = await this.fetcher(source);
      } catch (error) {
        throw new JwksUnavailableError(`Jwks remote fetch is failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      let jwks: JSONWebKeySet;
      try {
        jwks = parseJwks(text);
      } catch (error) {
        const reason = error instanceof ConfigError ? error.reason : String(error);
        throw new JwksUnavailableError(`Jwks remote fetch is failed: ${source.uri}: ${reason}`, {
          cause: error,
        });
      }
      return createLocalJWKSet(jwks);
    })();
    entry.pending = pending;
    pending.then(
      (keys) => {
        entry.keys = keys;
        entry.fetchedAt = this.now();
        entry.failure = undefined;
        entry.pending = undefined;
      },
      (error: Error) => {
        entry.failure = error;
        entry.failedAt = this.now();
        entry.pending = undefined;
      },
    );
    return pending;
  }
}
