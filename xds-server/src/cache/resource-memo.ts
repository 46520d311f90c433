import { create, type Message, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  ROUTE_TYPE_URL,
  type Route,
  type RouteConfiguration,
  RouteConfigurationSchema,
  RouteSchema,
  VirtualHostSchema,
} from "@dispatch/proto/envoy";
import { type CheckMemo, checkMessage, type Violation } from "../check/pgv.js";
import type { XdsResource } from "../translate/translate-ingress.js";
import { type CachedResource, cacheResource, createCachedResource, versionOf } from "./cached-resource.js";
import { referencesOf } from "./references.js";

/** Checks and encodes what a translation made, reusing what it reused. */
export interface ResourceMemo {
  /** The resource's violations of Envoy's rules: computed once per content. */
  check(resource: XdsResource): Violation[];
  /** The resource as the cache keeps it: encoded once per message. */
  encoded(resource: XdsResource): CachedResource;
  /** Forgets verdicts and encodings of resources no longer served. */
  keepOnly(resources: readonly XdsResource[]): void;
}

/**
 * A {@link ResourceMemo}. Top-level resources are remembered by message (the
 * encoding) and by version (the verdict). A RouteConfiguration is the one
 * resource that grows with the endpoints, and a change of one endpoint makes
 * a new one: it is checked and encoded route by route, each Route message
 * that the translator reused (`TranslationMemo`) keeping its verdict and its
 * bytes, so a one-route change checks and encodes that route, not 10,000.
 */
export function createResourceMemo(): ResourceMemo {
  let verdicts = new Map<string, Violation[]>();
  let encodings = new WeakMap<Message, CachedResource>();
  const routes: CheckMemo = { types: new Set([RouteSchema.typeName]), verdicts: new WeakMap() };
  const routeEntries = new WeakMap<Route, Uint8Array>();
  const encode = (r: XdsResource): CachedResource => {
    let cached = encodings.get(r.message);
    if (!cached) {
      cached =
        r.typeUrl === ROUTE_TYPE_URL
          ? encodeRouteConfiguration(r.name, r.message as RouteConfiguration, routeEntries)
          : cacheResource(r.typeUrl, r.name, r.schema, r.message);
      encodings.set(r.message, cached);
    }
    return cached;
  };
  const key = (c: CachedResource) => `${c.typeUrl}\n${c.name}\n${c.version}`;
  return {
    check(r) {
      const k = key(encode(r));
      let verdict = verdicts.get(k);
      if (!verdict) {
        verdict = checkMessage(r.schema, r.message, undefined, routes);
        verdicts.set(k, verdict);
      }
      return verdict;
    },
    encoded: encode,
    keepOnly(resources) {
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

const virtualHostsField = RouteConfigurationSchema.field.virtualHosts.number;
const routesField = VirtualHostSchema.field.routes.number;

/**
 * A route configuration encoded from its routes' entries: each virtual host
 * is its other fields, then its routes, each entry (tag, length and the
 * Route's bytes) made once per Route message; the whole is copied together
 * once. Protobuf parsers take fields in any order, so this decodes to the
 * same message as `toBinary` of the whole; the bytes (and so the version) are
 * always made this way, so equal content still gives an equal version.
 *
 * @param routeEntries the entry of each Route already encoded, kept by message
 */
export function encodeRouteConfiguration(
  name: string,
  config: RouteConfiguration,
  routeEntries: WeakMap<Route, Uint8Array>,
): CachedResource {
  const chunks: Uint8Array[] = [
    toBinary(RouteConfigurationSchema, create(RouteConfigurationSchema, { ...config, virtualHosts: [] })),
  ];
  for (const vh of config.virtualHosts) {
    const host: Uint8Array[] = [
      toBinary(VirtualHostSchema, create(VirtualHostSchema, { ...vh, routes: [] })),
    ];
    let length = host[0]?.length ?? 0;
    for (const route of vh.routes) {
      let entry = routeEntries.get(route);
      if (!entry) {
        entry = new BinaryWriter()
          .tag(routesField, WireType.LengthDelimited)
          .bytes(toBinary(RouteSchema, route))
          .finish();
        routeEntries.set(route, entry);
      }
      host.push(entry);
      length += entry.length;
    }
    chunks.push(
      new BinaryWriter().tag(virtualHostsField, WireType.LengthDelimited).uint32(length).finish(),
      ...host,
    );
  }
  const joined = Buffer.concat(chunks);
  const bytes = new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
  return createCachedResource(
    ROUTE_TYPE_URL,
    name,
    versionOf(bytes),
    bytes,
    referencesOf(ROUTE_TYPE_URL, config),
  );
}
