import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  type Route,
  type RouteConfiguration,
  RouteConfigurationSchema,
  RouteSchema,
  VirtualHostSchema,
} from "@dispatch/proto/envoy";

const virtualHostsField = RouteConfigurationSchema.field.virtualHosts.number;
const routesField = VirtualHostSchema.field.routes.number;

/** The parts of a message's bytes: the fields kept whole, and the values of one repeated field. */
interface Split {
  /** Every other field, tag and value, in order. */
  rest: Uint8Array;
  /** The values of the split field, in order. */
  values: Uint8Array[];
}

/** Splits encoded message bytes into one length-delimited repeated field's values and everything else. */
function split(bytes: Uint8Array, field: number): Split {
  const reader = new BinaryReader(bytes);
  const rest: Uint8Array[] = [];
  const values: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [no, wireType] = reader.tag();
    if (no === field && wireType === WireType.LengthDelimited) values.push(reader.bytes());
    else {
      reader.skip(wireType, no);
      rest.push(bytes.subarray(start, reader.pos));
    }
  }
  return { rest: Buffer.concat(rest), values };
}

/**
 * Decodes RouteConfigurations the way `fromBinary` does, but gives each route
 * whose bytes are the same as in the last version of the same configuration
 * the very Route object it had then. A one-route change in a configuration of
 * 10,000 routes then decodes one route, and the route table compiles one
 * (it keeps compiled routes by Route object).
 *
 * Protobuf lets a message's fields come in any order and splits nothing that
 * a parser would merge: the other fields of each message are decoded together,
 * in their order, and the routes keep theirs.
 *
 * @throws what `fromBinary` throws for bytes that are not a RouteConfiguration
 */
export function createRouteConfigurationDecoder(): (bytes: Uint8Array) => RouteConfiguration {
  /** Per configuration name: its named routes, with their bytes, as last decoded. */
  const known = new Map<string, Map<string, KnownRoute>>();
  return (bytes) => {
    const outer = split(bytes, virtualHostsField);
    const config = fromBinary(RouteConfigurationSchema, outer.rest);
    const before = known.get(config.name);
    const now = new Map<string, KnownRoute>();
    for (const hostBytes of outer.values) {
      const inner = split(hostBytes, routesField);
      const host = fromBinary(VirtualHostSchema, inner.rest);
      for (const routeBytes of inner.values) {
        // Looked up by name (read from the bytes), and taken only if the bytes are the same:
        // no copy of the bytes is made to compare them.
        const name = routeName(routeBytes);
        const seen = name === undefined ? undefined : (now.get(name) ?? before?.get(name));
        let route = seen && Buffer.compare(seen.bytes, routeBytes) === 0 ? seen.route : undefined;
        if (!route) route = fromBinary(RouteSchema, routeBytes);
        if (name !== undefined) now.set(name, { bytes: routeBytes, route });
        host.routes.push(route);
      }
      config.virtualHosts.push(host);
    }
    known.set(config.name, now);
    return config;
  };
}

/** A route as last decoded, with the bytes it was decoded from. */
interface KnownRoute {
  bytes: Uint8Array;
  route: Route;
}

const routeNameField = RouteSchema.field.name.number;

/** The `name` of an encoded Route (the last one, as a parser would take it), or undefined without one. */
function routeName(bytes: Uint8Array): string | undefined {
  const reader = new BinaryReader(bytes);
  let name: string | undefined;
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (no === routeNameField && wireType === WireType.LengthDelimited) name = reader.string();
    else reader.skip(wireType, no);
  }
  return name === "" ? undefined : name;
}
