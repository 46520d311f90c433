import type { Message } from "@bufbuild/protobuf";
import { type CachedResource, cacheResource } from "./cache/cached-resource.js";
import { type CacheChange, createSnapshotCache, type SnapshotCache } from "./cache/snapshot-cache.js";
import { checkMessage, type Violation } from "./check/pgv.js";
import { type AdsServer, type AdsServerOptions, startAdsServer } from "./server/ads-server.js";
import { resolveTranslateOptions, type TranslateOptions } from "./translate/options.js";
import type { EndpointProblem, IngressSnapshot } from "./translate/snapshot.js";
import {
  type IngressTranslation,
  translateIngress,
  type XdsResource,
} from "./translate/translate-ingress.js";

/** Options of {@link startXdsServer}: the ADS server's, and how endpoints are translated. */
export interface XdsServerOptions extends Omit<AdsServerOptions, "cache"> {
  translation: TranslateOptions;
}

/** What one {@link XdsServer.update} did. */
export interface IngressUpdate {
  /** Every endpoint problem (sorted by endpoint): what a status reporter writes. */
  problems: EndpointProblem[];
  /** The translation served (IR, Envoy resources and which endpoint each part serves). */
  translation: IngressTranslation;
  /** What changed in the cache, per type URL (empty if nothing did). */
  changed: CacheChange;
}

/** A running xds-server: the ADS server plus the translation that feeds it. */
export interface XdsServer extends AdsServer {
  /**
   * Translates `snapshot`, checks every resource against Envoy's rules, and
   * serves the result to every connected proxy (only what changed is sent).
   *
   * @throws ConfigurationError when the options cannot give a valid configuration;
   *   what was served before stays served
   */
  update(snapshot: IngressSnapshot): IngressUpdate;
  readonly cache: SnapshotCache;
}

/**
 * Starts the xds-server: an ADS server (SotW and Delta) whose configuration
 * is the translation of the snapshots given to `update`. A later step feeds
 * it from watch caches of Endpoints and Functions and writes the problems and
 * NACKs back as endpoint conditions.
 *
 * @example
 * const xds = await startXdsServer({ translation: { activator: { host: "127.0.0.1", port: 8081 } } });
 * const { problems } = xds.update({ endpoints, functions, tokens: () => undefined });
 * // proxies bootstrap ADS at xds.address
 */
export async function startXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  const translation = resolveTranslateOptions(options.translation);
  const cache = createSnapshotCache();
  const ads = await startAdsServer({ ...options, cache });
  const checker = createMemoizedCheck();
  return {
    ...ads,
    cache,
    update(snapshot) {
      const result = translateIngress(snapshot, translation, checker.check);
      const changed = cache.setEncoded(result.resources.map(checker.encoded));
      checker.keepOnly(result.resources);
      return { problems: result.problems, translation: result, changed };
    },
  };
}

/**
 * Checks each resource once per content: the verdict is kept by version (the
 * hash of its bytes), and the encoding made to compute it is the one the
 * cache keeps.
 */
function createMemoizedCheck() {
  let verdicts = new Map<string, Violation[]>();
  let encodings = new WeakMap<Message, CachedResource>();
  const encode = (r: XdsResource): CachedResource => {
    let cached = encodings.get(r.message);
    if (!cached) {
      cached = cacheResource(r.typeUrl, r.name, r.schema, r.message);
      encodings.set(r.message, cached);
    }
    return cached;
  };
  const key = (c: CachedResource) => `${c.typeUrl}\n${c.name}\n${c.version}`;
  return {
    check(r: XdsResource): Violation[] {
      const k = key(encode(r));
      let verdict = verdicts.get(k);
      if (!verdict) {
        verdict = checkMessage(r.schema, r.message);
        verdicts.set(k, verdict);
      }
      return verdict;
    },
    encoded: encode,
    /** Forgets verdicts and encodings of resources no longer served. */
    keepOnly(resources: XdsResource[]) {
      const kept = new Map<string, Violation[]>();
      const nextEncodings = new WeakMap<Message, CachedResource>();
      for (const r of resources) {
        const c = encode(r);
        nextEncodings.set(r.message, c);
        const verdict = verdicts.get(key(c));
        if (verdict) kept.set(key(c), verdict);
      }
      verdicts = kept;
      encodings = nextEncodings;
    },
  };
}
