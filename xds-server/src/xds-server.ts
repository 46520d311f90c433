import { createResourceMemo } from "./cache/resource-memo.js";
import { type CacheChange, createSnapshotCache, type SnapshotCache } from "./cache/snapshot-cache.js";
import { type AdsServer, type AdsServerOptions, startAdsServer } from "./server/ads-server.js";
import { TranslationMemo } from "./translate/memo.js";
import { resolveTranslateOptions, type TranslateOptions } from "./translate/options.js";
import type { EndpointProblem, IngressSnapshot } from "./translate/snapshot.js";
import { type IngressTranslation, translateIngress } from "./translate/translate-ingress.js";

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
  const checker = createResourceMemo();
  // What the last translation made, reused for what did not change.
  const memo = new TranslationMemo();
  return {
    ...ads,
    cache,
    update(snapshot) {
      const result = translateIngress(snapshot, translation, checker.check, memo);
      const changed = cache.setEncoded(result.resources.map(checker.encoded));
      checker.keepOnly(result.resources);
      return { problems: result.problems, translation: result, changed };
    },
  };
}
