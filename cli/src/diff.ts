import { clone, create, type DescMessage, equals, type Message } from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";

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
  const copy = reflect(desc, clone(desc, message));
  normalizeInPlace(copy);
  return copy.message as T;
}

// Walks the message through protobuf-es reflection, not its plain properties:
// well-known types are not messages there (a google.protobuf.Struct field holds a
// JsonObject, a wrapper field a number or string), and reflection turns them back
// into messages whose fields match the descriptor. A value reflection wraps is a
// new object, so each normalized one is set back.
function normalizeInPlace(message: ReflectMessage): void {
  for (const field of message.fields) {
    if (!message.isSet(field)) continue;
    switch (field.fieldKind) {
      case "message": {
        const value = message.get(field);
        normalizeInPlace(value);
        if (!field.oneof && equals(field.message, value.message, create(field.message))) {
          message.clear(field);
        } else {
          message.set(field, value);
        }
        break;
      }
      case "list": {
        const list = message.get(field);
        if (field.listKind !== "message") break;
        for (const [i, item] of list.entries()) {
          normalizeInPlace(item as ReflectMessage);
          list.set(i, item);
        }
        break;
      }
      case "map": {
        const map = message.get(field);
        if (field.mapKind !== "message") break;
        for (const [key, item] of map) {
          normalizeInPlace(item as ReflectMessage);
          map.set(key, item);
        }
        break;
      }
    }
  }
}
