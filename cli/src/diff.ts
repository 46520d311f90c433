import { clone, create, type DescMessage, equals, type Message } from "@bufbuild/protobuf";

/**
 * Whether two specs mean the same thing. Compared with protobuf `equals` after
 * {@link normalizeSpec}, so an empty nested message (`scale: {}`) equals an absent
 * one: the manifest and the server's copy may differ in that way only.
 */
export function specsEqual(desc: DescMessage, a: Message | undefined, b: Message | undefined): boolean {
  return equals(desc, normalizeSpec(desc, a ?? create(desc)), normalizeSpec(desc, b ?? create(desc)));
}

/** Whether two tag maps hold the same entries. */
export function tagsEqual(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * A copy of `message` where singular message fields that hold only defaults are
 * unset, recursively. Members of a oneof are kept: there, being set is the value.
 */
export function normalizeSpec<T extends Message>(desc: DescMessage, message: T): T {
  const copy = clone(desc, message) as T;
  normalizeInPlace(desc, copy as unknown as Record<string, unknown>);
  return copy;
}

function normalizeInPlace(desc: DescMessage, message: Record<string, unknown>): void {
  for (const field of desc.fields) {
    if (field.oneof) {
      const slot = message[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (field.fieldKind === "message" && slot?.case === field.localName && slot.value) {
        normalizeInPlace(field.message, slot.value as Record<string, unknown>);
      }
      continue;
    }
    const value = message[field.localName];
    switch (field.fieldKind) {
      case "message":
        if (value === undefined) break;
        normalizeInPlace(field.message, value as Record<string, unknown>);
        if (equals(field.message, value as Message, create(field.message)))
          message[field.localName] = undefined;
        break;
      case "list":
        if (field.listKind === "message") {
          for (const item of value as Record<string, unknown>[]) normalizeInPlace(field.message, item);
        }
        break;
      case "map":
        if (field.mapKind === "message") {
          for (const item of Object.values(value as Record<string, Record<string, unknown>>)) {
            normalizeInPlace(field.message, item);
          }
        }
        break;
    }
  }
}
