import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { DispatchClients } from "@dispatch/client";
import { ingestSecretName, Role } from "@dispatch/proto";
import type { Caller } from "./callers.js";

/** Options of {@link createIngestTokens}. */
export interface IngestTokensOptions {
  /** The API as the broker (its component token may read exactly these Secrets' values). */
  secrets: Pick<DispatchClients["secrets"], "get">;
  /** Whether an org exists (the broker's watch cache): a made-up org costs no lookup. */
  orgExists(org: string): Promise<boolean>;
  now?: () => number;
}

/** Ingest tokens, checked against the broker's Secret. */
export interface IngestTokens {
  /** The caller an ingest token of the org's broker stands for (a sender to that broker only), or undefined. */
  caller(org: string, broker: string, token: string): Promise<Caller | undefined>;
}

/** A Secret's tokens are read again after this long (a changed or deleted Secret takes effect within it). */
const ttlMs = 10_000;
/** At most this many org/broker pairs are remembered. */
const maxCached = 10_000;

const digest = (text: string) => createHash("sha256").update(text).digest();

/**
 * Ingest tokens: every value of the Secret `events-ingest-<broker>` in the
 * org is a token that may send events to that broker, and to nothing else
 * (not the EventService, not another broker or org). Read with the broker's
 * component token, remembered for 10 s, read once at a time per Secret,
 * compared in constant time.
 */
export function createIngestTokens(options: IngestTokensOptions): IngestTokens {
  const now = options.now ?? Date.now;
  const cache = new Map<string, { until: number; tokens: Buffer[] }>();
  const reading = new Map<string, Promise<Buffer[]>>();

  const tokensOf = async (org: string, broker: string): Promise<Buffer[]> => {
    const key = `${org}/${broker}`;
    const cached = cache.get(key);
    if (cached && cached.until > now()) return cached.tokens;
    let read = reading.get(key);
    if (!read) {
      read = (async () => {
        try {
          const { secret } = await options.secrets.get({ org, name: ingestSecretName(broker), reveal: true });
          return Object.values(secret?.spec?.data ?? {})
            .filter((value) => value !== "")
            .map(digest);
        } catch (err) {
          const e = ConnectError.from(err);
          // No such Secret (or org): no ingest tokens.
          if (e.code === Code.NotFound || e.code === Code.InvalidArgument) return [];
          throw e;
        }
      })();
      reading.set(key, read);
      void read
        .then((tokens) => {
          if (cache.size >= maxCached) cache.delete(cache.keys().next().value as string);
          cache.set(key, { until: now() + ttlMs, tokens });
        })
        .catch(() => undefined)
        .finally(() => reading.delete(key));
    }
    return await read;
  };

  return {
    async caller(org, broker, token) {
      if (org === "" || token === "" || !(await options.orgExists(org))) return undefined;
      const offered = digest(token);
      const tokens = await tokensOf(org, broker);
      // Every value is compared, so the time taken says nothing about which one matched.
      let match = false;
      for (const known of tokens) match = timingSafeEqual(known, offered) || match;
      return match ? { role: Role.ORG_MEMBER, org } : undefined;
    },
  };
}
