import { LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "@dispatch/proto/envoy";
import type { JwtProviderIR, RouteIR } from "../ir/ir.js";
import type { IngressTranslation } from "../translate/translate-ingress.js";
import type { EndpointConfig, ResourceKey } from "./rollout-tracker.js";

/** Turns translations into each served endpoint's configuration (see {@link endpointConfigs}). */
export type EndpointConfigs = (translation: IngressTranslation) => Map<string, EndpointConfig>;

/**
 * Each served endpoint's part of a translation: a fingerprint of what it is
 * (its routes, its JWT provider, which functions it calls and how) and the
 * resources that carry it. Where a function's calls go (instances or the
 * activator) is left out of the fingerprint: scaling changes load
 * assignments only, and an endpoint stays served throughout.
 *
 * The text of each route and provider is kept by IR object, which the
 * translator reuses for what did not change, so a translation of 10,000
 * endpoints with one changed writes out one; the resources that carry an
 * endpoint are worked out only when asked for (the rollout tracker asks for
 * those of endpoints whose fingerprint changed).
 */
export function createEndpointConfigs(): EndpointConfigs {
  const routeTexts = new WeakMap<RouteIR, string>();
  const providerTexts = new WeakMap<JwtProviderIR, string>();
  const textOf = <T extends object>(memo: WeakMap<T, string>, value: T): string => {
    let text = memo.get(value);
    if (text === undefined) {
      text = JSON.stringify(value);
      memo.set(value, text);
    }
    return text;
  };
  /** Each endpoint's parts and fingerprint at the last translation: an unchanged one keeps its fingerprint. */
  let last = new Map<string, { items: string[]; fingerprint: string }>();
  return (translation) => {
    const { ir, envoy } = translation;
    const parts = new Map<string, { routes: string[]; providers: string[]; clusters: string[] }>();
    const part = (endpoint: string) => {
      let p = parts.get(endpoint);
      if (!p) {
        p = { routes: [], providers: [], clusters: [] };
        parts.set(endpoint, p);
      }
      return p;
    };
    for (const vh of ir.virtualHosts) {
      const host = JSON.stringify(vh.name);
      for (const route of vh.routes) part(route.endpoint).routes.push(host, textOf(routeTexts, route));
    }
    for (const provider of ir.jwtProviders)
      part(provider.endpoint).providers.push(textOf(providerTexts, provider));
    for (const cluster of ir.clusters) {
      const { endpoints: _where, activator: _activator, usedBy, ...rest } = cluster;
      const text = JSON.stringify(rest);
      for (const endpoint of usedBy) part(endpoint).clusters.push(text);
    }
    for (const cluster of ir.jwksClusters) {
      const { usedBy, ...rest } = cluster;
      const text = JSON.stringify(rest);
      for (const endpoint of usedBy) part(endpoint).clusters.push(text);
    }

    // Which resources carry each endpoint: worked out once, the first time any endpoint's are asked for.
    let carried: Map<string, Map<string, ResourceKey>> | undefined;
    const resourcesOf = (endpoint: string): ResourceKey[] => {
      if (!carried) {
        const index = new Map<string, Map<string, ResourceKey>>();
        for (const owner of envoy.owners) {
          for (const owned of owner.endpoints) {
            const list = index.get(owned) ?? new Map<string, ResourceKey>();
            list.set(`${owner.typeUrl}\n${owner.name}`, { typeUrl: owner.typeUrl, name: owner.name });
            index.set(owned, list);
          }
        }
        carried = index;
      }
      const own = new Map(carried.get(endpoint));
      own.set(`${LISTENER_TYPE_URL}\n${ir.listener.name}`, {
        typeUrl: LISTENER_TYPE_URL,
        name: ir.listener.name,
      });
      own.set(`${ROUTE_TYPE_URL}\n${ir.listener.routeConfigName}`, {
        typeUrl: ROUTE_TYPE_URL,
        name: ir.listener.routeConfigName,
      });
      return [...own.values()];
    };

    const shared = JSON.stringify({ listener: ir.listener, headers: ir.requestHeaders });
    const out = new Map<string, EndpointConfig>();
    const next = new Map<string, { items: string[]; fingerprint: string }>();
    for (const [endpoint, p] of parts) {
      // Hosts (JSON strings) and texts (JSON), separated by a character JSON always escapes:
      // no two different configurations read the same.
      const items = [shared, ...p.routes, "", ...p.providers, "", ...p.clusters];
      const before = last.get(endpoint);
      const fingerprint =
        before && sameItems(before.items, items) ? before.fingerprint : items.join("\u0001");
      next.set(endpoint, { items, fingerprint });
      let resources: ResourceKey[] | undefined;
      out.set(endpoint, {
        fingerprint,
        get resources() {
          resources ??= resourcesOf(endpoint);
          return resources;
        },
      });
    }
    last = next;
    return out;
  };
}

function sameItems(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** {@link createEndpointConfigs} without memory: one translation's endpoint configurations. */
export function endpointConfigs(translation: IngressTranslation): Map<string, EndpointConfig> {
  return createEndpointConfigs()(translation);
}
