import { create } from "@bufbuild/protobuf";
import {
  type Address,
  AddressSchema,
  ApiVersion,
  type ConfigSource,
  ConfigSourceSchema,
  type HeaderMatcher,
  HeaderMatcherSchema,
  type HeaderValueOption,
  HeaderValueOptionSchema,
  registry,
} from "@dispatch/proto/envoy";
import type { AddressIR } from "../ir/ir.js";

/** The number of an Envoy enum value, looked up by name (for enums `@dispatch/proto/envoy` does not export). */
export function envoyEnum(typeName: string, valueName: string): number {
  const value = registry.getEnum(typeName)?.values.find((v) => v.name === valueName);
  if (!value) throw new Error(`Envoy enum ${typeName} has no value ${valueName}`);
  return value.number;
}

/** Where a resource's dependencies come from: the same ADS stream, xDS v3. */
export function adsConfigSource(): ConfigSource {
  return create(ConfigSourceSchema, {
    configSourceSpecifier: { case: "ads", value: {} },
    resourceApiVersion: ApiVersion.V3,
  });
}

/** A TCP socket address. */
export function socketAddress({ host, port }: AddressIR): Address {
  return create(AddressSchema, {
    address: {
      case: "socketAddress",
      value: { address: host, portSpecifier: { case: "portValue", value: port } },
    },
  });
}

/** A header matcher on an exact value. */
export function headerExact(name: string, value: string): HeaderMatcher {
  return create(HeaderMatcherSchema, {
    name,
    headerMatchSpecifier: { case: "stringMatch", value: { matchPattern: { case: "exact", value } } },
  });
}

/** A header matcher on an RE2 regex matching the whole value. */
export function headerRegex(name: string, regex: string): HeaderMatcher {
  return create(HeaderMatcherSchema, {
    name,
    headerMatchSpecifier: {
      case: "stringMatch",
      value: { matchPattern: { case: "safeRegex", value: { regex } } },
    },
  });
}

/** A header matcher that only asks for the header to be there. */
export function headerPresent(name: string): HeaderMatcher {
  return create(HeaderMatcherSchema, { name, headerMatchSpecifier: { case: "presentMatch", value: true } });
}

const overwrite = envoyEnum(
  "envoy.config.core.v3.HeaderValueOption.HeaderAppendAction",
  "OVERWRITE_IF_EXISTS_OR_ADD",
);

/** A header set to `value`, replacing any the client sent. */
export function setHeader(key: string, value: string): HeaderValueOption {
  return create(HeaderValueOptionSchema, { header: { key, value }, appendAction: overwrite });
}

/** Escapes RE2 metacharacters. */
export function escapeRegex(literal: string): string {
  return literal.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}
