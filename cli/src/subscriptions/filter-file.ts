import { create } from "@bufbuild/protobuf";
import { AttributeMatchSchema, type Filter, FilterListSchema, FilterSchema } from "@dispatch/proto";
import { UsageError } from "../errors.js";
import { yaml } from "../yaml.js";

/** A CloudEvents attribute or extension name: 1 to 20 lowercase letters and digits (CloudEvents 1.0 §3.1.1). */
const attributeName = /^[a-z0-9]{1,20}$/;

const dialects = ["exact", "prefix", "suffix", "all", "any", "not", "sql"] as const;

/**
 * Reads a `--filter-file`: YAML or JSON holding a list of CloudEvents
 * Subscriptions API filters (Subscriptions API §3.2.4 "filters"), which must
 * all match. Each item names one dialect:
 *
 * ```yaml
 * - prefix: {type: com.example.}
 * - any:
 *     - exact: {source: /shop}
 *     - suffix: {subject: .png}
 * - not: {exact: {subject: test}}
 * - sql: "type LIKE 'com.example.%' AND size > 100"
 * ```
 *
 * Also read: an object with a `filters:` list (a Subscriptions API subscription,
 * or a Dispatch subscription's spec), one filter alone, and the form
 * `dispatch get subscription NAME -o yaml` prints (`exact: {attributes: {…}}`).
 *
 * @param path names the file in messages.
 * @throws UsageError with every problem found, each at its place in the file
 *   (`filters[1].any[0].exact.source`).
 */
export function parseFilterFile(text: string, path: string): Filter[] {
  let document: unknown;
  try {
    document = yaml().parse(text);
  } catch (err) {
    throw new UsageError(`${path} is not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  if (isRecord(document) && "filters" in document) document = document.filters;
  else if (isRecord(document)) document = [document];
  if (!Array.isArray(document) || document.length === 0) {
    throw new UsageError(
      `${path} holds no filters: write a list such as "- prefix: {type: com.example.}" (see "dispatch create subscription --help")`,
    );
  }
  const problems: string[] = [];
  const filters = document.map((item, i) => filterOf(item, `filters[${i}]`, problems));
  if (problems.length > 0) {
    throw new UsageError(`${path}: the filters are not valid:\n${problems.join("\n")}`);
  }
  return filters;
}

/** One filter from its YAML form; what is wrong goes to `problems` (and an empty filter is returned). */
function filterOf(value: unknown, at: string, problems: string[]): Filter {
  const filter = create(FilterSchema);
  if (!isRecord(value)) {
    problems.push(`${at} must be an object naming one dialect (${dialects.join(", ")})`);
    return filter;
  }
  const keys = Object.keys(value);
  if (keys.length !== 1 || !(dialects as readonly string[]).includes(keys[0] as string)) {
    const found = keys.length === 0 ? "nothing" : keys.map((k) => `"${k}"`).join(", ");
    problems.push(
      `${at} names ${found}; a filter names exactly one dialect (${dialects.join(", ")}): ` +
        "put several in a list to have all of them match",
    );
    return filter;
  }
  const dialect = keys[0] as (typeof dialects)[number];
  const inner = value[dialect];
  const here = `${at}.${dialect}`;
  switch (dialect) {
    case "exact":
    case "prefix":
    case "suffix":
      filter.dialect = {
        case: dialect,
        value: create(AttributeMatchSchema, { attributes: attributesOf(inner, here, problems) }),
      };
      break;
    case "all":
    case "any":
      if (!Array.isArray(inner) || inner.length === 0) {
        problems.push(`${here} must be a list of one or more filters`);
        break;
      }
      filter.dialect = {
        case: dialect,
        value: create(FilterListSchema, {
          filters: inner.map((f, i) => filterOf(f, `${here}[${i}]`, problems)),
        }),
      };
      break;
    case "not":
      filter.dialect = { case: "not", value: filterOf(inner, here, problems) };
      break;
    case "sql":
      if (typeof inner !== "string" || inner.trim() === "") {
        problems.push(`${here} must be a CESQL expression (a string), e.g. "type LIKE 'com.example.%'"`);
        break;
      }
      filter.dialect = { case: "sql", value: inner };
      break;
  }
  return filter;
}

/** The attribute → value map of `exact`, `prefix` or `suffix`. */
function attributesOf(value: unknown, at: string, problems: string[]): Record<string, string> {
  // The API's JSON form wraps the map in `attributes`; an attribute's value is
  // never an object, so that cannot be an attribute named "attributes".
  const map = isRecord(value) && isRecord(value.attributes) ? value.attributes : value;
  if (!isRecord(map) || Object.keys(map).length === 0) {
    problems.push(`${at} must map attribute names to values, e.g. {type: com.example.created}`);
    return {};
  }
  const attributes: Record<string, string> = {};
  for (const [name, v] of Object.entries(map)) {
    if (!attributeName.test(name)) {
      problems.push(
        `${at}.${name} is not a CloudEvents attribute name (1 to 20 lowercase letters and digits)`,
      );
    } else if (typeof v !== "string" || v === "") {
      problems.push(`${at}.${name} must be a non-empty string (quote values such as "1.0" or "true")`);
    } else {
      attributes[name] = v;
    }
  }
  return attributes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
