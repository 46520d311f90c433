import { registry } from "@dispatch/proto/envoy";

/**
 * The number of an Envoy enum value, by name, for the enums
 * `@dispatch/proto/envoy` does not export. Resolved once, at module load; a
 * name that does not exist is a programming error.
 */
export function envoyEnum(typeName: string, valueName: string): number {
  const value = registry.getEnum(typeName)?.values.find((v) => v.name === valueName);
  if (!value) throw new Error(`Envoy enum ${typeName} has no value ${valueName}`);
  return value.number;
}
