import type { Message, Registry } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";

/**
 * The constraints a rules message sets, by field name. `validate.proto` is
 * proto2: an unset `min_len` reads as 0, so presence decides, not the value.
 * Repeated constraints (`in`, `not_in`) count as set when not empty.
 */
export type SetRules = ReadonlyMap<string, unknown>;

const cache = new WeakMap<Message, SetRules>();

/** The constraints of `rules` that are set (cached per rules message: descriptors are immutable). */
export function setRules(rules: Message, registry: Registry): SetRules {
  const cached = cache.get(rules);
  if (cached) return cached;
  const desc = registry.getMessage(rules.$typeName);
  const out = new Map<string, unknown>();
  if (desc) {
    const r = reflect(desc, rules);
    for (const field of desc.fields) {
      if (!r.isSet(field)) continue;
      switch (field.fieldKind) {
        case "list":
          out.set(field.name, [...r.get(field)]);
          break;
        case "message":
          out.set(field.name, r.get(field).message);
          break;
        default:
          out.set(field.name, r.get(field));
      }
    }
  }
  cache.set(rules, out);
  return out;
}
