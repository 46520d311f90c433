import { LISTENER_TYPE_URL, ROUTE_TYPE_URL } from "@dispatch/proto/envoy";
import type { IngressTranslation } from "../translate/translate-ingress.js";
import type { EndpointConfig, ResourceKey } from "./rollout-tracker.js";

/**
 * Each served endpoint's part of a translation: a fingerprint of what it is
 * (its routes, its JWT provider, which functions it calls and how) and the
 * resources that carry it. Where a function's calls go (instances or the
 * activator) is left out of the fingerprint: scaling changes load
 * assignments only, and an endpoint stays served throughout.
 */
export function endpointConfigs(translation: IngressTranslation): Map<string, EndpointConfig> {
  const { ir, envoy } = translation;
  const parts = new Map<string, { routes: unknown[]; providers: unknown[]; clusters: unknown[] }>();
  const part = (endpoint: string) => {
    let p = parts.get(endpoint);
    if (!p) {
      p = { routes: [], providers: [], clusters: [] };
      parts.set(endpoint, p);
    }
    return p;
  };
  for (const vh of ir.virtualHosts) {
    for (const route of vh.routes) part(route.endpoint).routes.push({ host: vh.name, route });
  }
  for (const provider of ir.jwtProviders) part(provider.endpoint).providers.push(provider);
  for (const cluster of ir.clusters) {
    const { endpoints: _where, activator: _activator, usedBy, ...rest } = cluster;
    for (const endpoint of usedBy) part(endpoint).clusters.push(rest);
  }
  for (const cluster of ir.jwksClusters) {
    const { usedBy, ...rest } = cluster;
    for (const endpoint of usedBy) part(endpoint).clusters.push(rest);
  }

  const resources = new Map<string, Map<string, ResourceKey>>();
  const carry = (endpoint: string, r: ResourceKey) => {
    const list = resources.get(endpoint) ?? new Map<string, ResourceKey>();
    list.set(`${r.typeUrl}\n${r.name}`, r);
    resources.set(endpoint, list);
  };
  for (const owner of envoy.owners) {
    for (const endpoint of owner.endpoints) carry(endpoint, { typeUrl: owner.typeUrl, name: owner.name });
  }
  const shared = JSON.stringify({ listener: ir.listener, headers: ir.requestHeaders });
  const out = new Map<string, EndpointConfig>();
  for (const [endpoint, p] of parts) {
    carry(endpoint, { typeUrl: LISTENER_TYPE_URL, name: ir.listener.name });
    carry(endpoint, { typeUrl: ROUTE_TYPE_URL, name: ir.listener.routeConfigName });
    out.set(endpoint, {
      fingerprint: `${shared}\n${JSON.stringify(p)}`,
      resources: [...(resources.get(endpoint)?.values() ?? [])],
    });
  }
  return out;
}
