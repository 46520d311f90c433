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
  const routeBytes = new WeakMap<Route, Uint8Array>();
  const encode = (r: XdsResource): CachedResource => {
    let cached = encodings.get(r.message);
    if (!cached) {
      cached =
        r.typeUrl === ROUTE_TYPE_URL
          ? encodeRouteConfiguration(r.name, r.message as RouteConfiguration, routeBytes)
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
 * A route configuration encoded from the bytes of its routes: each virtual
 * host is its other fields, then its routes, each encoded once per Route
 * message. Protobuf parsers take fields in any order, so this decodes to the
 * same message as `toBinary` of the whole; the bytes (and so the version) are
 * always made this way, so equal content still gives an equal version.
 */
export function encodeRouteConfiguration(
  name: string,
  config: RouteConfiguration,
  routeBytes: WeakMap<Route, Uint8Array>,
): CachedResource {
  const writer = new BinaryWriter();
  writer.raw(
    toBinary(RouteConfigurationSchema, create(RouteConfigurationSchema, { ...config, virtualHosts: [] })),
  );
  for (const vh of config.virtualHosts) {
    const host = new BinaryWriter();
    host.raw(toBinary(VirtualHostSchema, create(VirtualHostSchema, { ...vh, routes: [] })));
    for (const route of vh.routes) {
      let bytes = routeBytes.get(route);
      if (!bytes) {
        bytes = toBinary(RouteSchema, route);
        routeBytes.set(route, bytes);
      }
      host.tag(routesField, WireType.LengthDelimited).bytes(bytes);
    }
    writer.tag(virtualHostsField, WireType.LengthDelimited).bytes(host.finish());
  }
  const bytes = writer.finish();
  return createCachedResource(
    ROUTE_TYPE_URL,
    name,
    versionOf(bytes),
    bytes,
    referencesOf(ROUTE_TYPE_URL, config),
  );
}
